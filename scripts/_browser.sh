# Sourced by scripts/test: make sure a Chromium is at hand for the
# dashboard's browser tests (tests/test_dashboard_browser.py drive
# /usr/bin/chromium through Playwright; Playwright's own browser download is
# not used). Installs Debian's chromium when missing (as root, with apt-get);
# otherwise those tests skip with a reason (fail under CI=true).

ensure_chromium() {
    local path="${QTK_CHROMIUM:-/usr/bin/chromium}"
    if [ -x "$path" ]; then
        return 0
    fi
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
        echo "installing chromium (apt-get) for the dashboard's browser tests..."
        (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null) \
            || echo "warning: could not install chromium" >&2
    else
        echo "note: no Chromium at $path; the dashboard's browser tests will be skipped (set QTK_CHROMIUM)" >&2
    fi
}
