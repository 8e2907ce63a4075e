#!/usr/bin/env bash
# screenshot.sh <report.html> <out.png>: render a chaos report with headless
# Chromium (Debian's `chromium` package) for the README and CI artefacts.
set -euo pipefail
if [ $# -ne 2 ]; then
	echo "usage: $0 <report.html> <out.png>" >&2
	exit 2
fi
html=$1 png=$2
[ -f "$html" ] || { echo "screenshot: no such file: $html" >&2; exit 1; }
chrome=${CHROMIUM:-$(command -v chromium || command -v chromium-browser || command -v google-chrome || true)}
[ -n "$chrome" ] || { echo "screenshot: chromium not found (apt-get install chromium)" >&2; exit 1; }
abs_html=$(cd "$(dirname "$html")" && pwd)/$(basename "$html")
mkdir -p "$(dirname "$png")"
abs_png=$(cd "$(dirname "$png")" && pwd)/$(basename "$png")
profile=$(mktemp -d)
trap 'rm -rf "$profile"' EXIT
"$chrome" --headless --no-sandbox --disable-gpu --hide-scrollbars \
	--user-data-dir="$profile" --no-first-run --disable-dev-shm-usage \
	--screenshot="$abs_png" --window-size=1280,1600 "file://$abs_html" >/dev/null 2>&1
[ -s "$abs_png" ] || { echo "screenshot: chromium wrote no $abs_png" >&2; exit 1; }
echo "$abs_png"
