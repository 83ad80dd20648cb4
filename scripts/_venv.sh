# Sourced by scripts/demo and scripts/test: make sure ./.venv exists and holds
# an editable install of this repository with its [dev] extra. Reuses the
# virtualenv when present; reinstalls only when pyproject.toml changed.
# PYTHON picks the interpreter used to create it (default: python3, >= 3.11).

ensure_venv() {
    local python="${PYTHON:-python3}"
    local stamp=".venv/.installed-from"
    if [ ! -x .venv/bin/python ]; then
        if ! command -v "$python" >/dev/null 2>&1; then
            echo "error: $python not found; install Python 3.11+ or set PYTHON=/path/to/python3.11" >&2
            exit 1
        fi
        if ! "$python" -c 'import sys; sys.exit(sys.version_info < (3, 11))'; then
            echo "error: $("$python" --version 2>&1) is too old; Python 3.11+ is needed (set PYTHON=...)" >&2
            exit 1
        fi
        echo "creating .venv with $("$python" --version 2>&1)..."
        "$python" -m venv .venv || {
            echo "error: '$python -m venv' failed (on Debian/Ubuntu: apt install python3-venv)" >&2
            exit 1
        }
    fi
    local wanted
    wanted="$(.venv/bin/python -c 'import hashlib,sys; print(hashlib.sha256(open("pyproject.toml","rb").read()).hexdigest())')"
    if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$wanted" ] \
        || ! .venv/bin/python -c 'import queue_core, pytest, mypy' >/dev/null 2>&1; then
        echo "installing the project and its dev tools into .venv (quietly)..."
        .venv/bin/python -m pip install --quiet --disable-pip-version-check -e ".[dev]"
        echo "$wanted" >"$stamp"
    fi
}
