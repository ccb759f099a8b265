#!/usr/bin/env bash
# Stop the daemons started by start_slurm.sh, by the PIDs it recorded.
set -u
state=$(realpath -m "${1:?usage: stop_slurm.sh STATE_DIR}")
[ -f "$state/pids" ] || exit 0
while read -r pid; do
  [ -n "$pid" ] && kill "$pid" 2>/dev/null
done < "$state/pids"
sleep 1
while read -r pid; do
  [ -n "$pid" ] && kill -9 "$pid" 2>/dev/null
done < "$state/pids"
rm -f "$state/pids"
exit 0
