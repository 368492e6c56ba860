# Shared environment for the project's scripts: tools on PATH, and wrangler kept local
# (no telemetry, no writes to $HOME; state under .state/).
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export PATH="$HOME/.cargo/bin:$root/node_modules/.bin:$PATH"
export WRANGLER_SEND_METRICS=false
export WRANGLER_SEND_ERROR_REPORTS=false
export CLOUDFLARE_CF_FETCH_ENABLED=false
export XDG_CONFIG_HOME="$root/.state/xdg"
export WRANGLER_LOG_PATH="$root/.state/logs"
export WRANGLER_LOG=${WRANGLER_LOG:-warn}
mkdir -p "$root/.state/xdg" "$root/.state/logs"
