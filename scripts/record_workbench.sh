#!/usr/bin/env bash
# Record docs/workbench.cast: the release binary's workbench running a compare (full context
# and memento mode side by side) on the default model, as an asciicast v2 file.
#
#   scripts/record_workbench.sh [CAST] [--screen FILE]
#
# CAST defaults to docs/workbench.cast. --screen also writes the finished compare screen as
# text (tmux capture-pane). Needs tmux, asciinema (on PATH, or $ASCIINEMA, e.g.
# `python3 -m venv /tmp/asc && /tmp/asc/bin/pip install asciinema` and
# ASCIINEMA=/tmp/asc/bin/asciinema) and `cargo build --release`; the default model is
# fetched on first use. Sessions and prompt history go to a temporary directory, so the
# recording neither reads nor adds to yours. Play it with `asciinema play docs/workbench.cast`.
set -euo pipefail
cd "$(dirname "$0")/.."

cast=docs/workbench.cast
screen_out=
while [ $# -gt 0 ]; do
  case "$1" in
    --screen) screen_out=$2; shift 2 ;;
    -h|--help) sed -n 2,12p "$0"; exit 0 ;;
    *) cast=$1; shift ;;
  esac
done

bin=${MEMENTO_BIN:-target/release/memento}
asciinema=${ASCIINEMA:-$(command -v asciinema || true)}
prompt=${PROMPT:-"A farmer has 17 sheep and buys 12 more. How many sheep now?"}
cols=120
rows=36

command -v tmux >/dev/null || { echo "tmux is missing" >&2; exit 1; }
[ -n "$asciinema" ] && [ -x "$asciinema" ] || { echo "asciinema is missing (set ASCIINEMA)" >&2; exit 1; }
[ -x "$bin" ] || { echo "$bin is missing: run cargo build --release" >&2; exit 1; }
"$bin" fetch >/dev/null 2>&1 || "$bin" fetch >/dev/null

tmp=$(mktemp -d)
sock="memento-rec-$$"
t() { tmux -L "$sock" "$@"; }
cleanup() { t kill-server 2>/dev/null || true; rm -rf "$tmp"; }
trap cleanup EXIT

# Wait until the pane shows $1 (a fixed string), for at most $2 seconds.
wait_for() {
  local deadline=$((SECONDS + $2))
  until t capture-pane -p -t rec | grep -qF -- "$1"; do
    if [ $SECONDS -ge $deadline ]; then
      echo "timed out waiting for \"$1\"; the screen was:" >&2
      t capture-pane -p -t rec >&2 || true
      exit 1
    fi
    sleep 0.2
  done
}

mkdir -p "$(dirname "$cast")"
cat >"$tmp/run.sh" <<EOF
#!/usr/bin/env bash
export MEMENTO_SESSIONS_DIR='$tmp/sessions' MEMENTO_HISTORY_FILE='$tmp/history.jsonl'
export ASCIINEMA_CONFIG_HOME='$tmp/asciinema' TERM=xterm-256color
exec '$asciinema' rec --quiet --overwrite --idle-time-limit 2 \
  --title 'memento run: compare on SmolLM2-135M-Instruct' -c '$PWD/$bin' '$PWD/$cast'
EOF
chmod +x "$tmp/run.sh"

t -f /dev/null new-session -d -s rec -x "$cols" -y "$rows" "$tmp/run.sh; sleep 5"
wait_for "ready" 60
sleep 1

# Type the prompt a few characters at a time, as a person would.
for ((i = 0; i < ${#prompt}; i += 3)); do
  t send-keys -t rec -l -- "${prompt:i:3}"
  sleep 0.06
done
sleep 0.8
t send-keys -t rec C-o
wait_for "finished" 180
sleep 2
[ -z "$screen_out" ] || t capture-pane -p -t rec >"$screen_out"

# The token at the playhead in each column, then the last memento's block.
t send-keys -t rec i
sleep 2.5
t send-keys -t rec Tab
sleep 2.5
t send-keys -t rec i
sleep 1
t send-keys -t rec Tab
sleep 1
t send-keys -t rec q

# asciinema writes the file when the workbench exits.
for _ in $(seq 1 50); do
  t capture-pane -p -t rec 2>/dev/null | grep -q "recorded" && break
  sleep 0.2
done
sleep 0.5
ls "$tmp/sessions"
echo "wrote $cast ($(du -h "$cast" | cut -f1))"
