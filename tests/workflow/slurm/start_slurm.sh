#!/usr/bin/env bash
# Start a one-node SLURM cluster on this machine from Debian's packages (needs root).
# Usage: start_slurm.sh STATE_DIR   -> writes STATE_DIR/slurm.conf and STATE_DIR/pids
# Stop it with stop_slurm.sh STATE_DIR (kills every daemon by the PID recorded here).
set -euo pipefail
state=$(realpath -m "${1:?usage: start_slurm.sh STATE_DIR}")
mkdir -p "$state"/{spool/ctld,spool/d,log,run}

if ! command -v slurmctld >/dev/null || ! command -v munged >/dev/null; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends slurmctld slurmd slurm-client munge >/dev/null
fi

# munge: the key comes with the package; the daemon runs as the munge user.
install -d -o munge -g munge -m 0755 /run/munge
[ -f /etc/munge/munge.key ] || /usr/sbin/mungekey --create >/dev/null 2>&1 || true
runuser -u munge -- /usr/sbin/munged --force
pgrep -u munge -n munged > "$state/pids"

host=$(hostname -s)
cpus=$(nproc)
mem=$(slurmd -C | sed -n 's/.*RealMemory=\([0-9]*\).*/\1/p')
mem=$(( mem * 95 / 100 ))
conf="$state/slurm.conf"
cat > "$conf" <<CONF
ClusterName=spamitest
SlurmctldHost=${host}(127.0.0.1)
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
MinJobAge=300
MailProg=/bin/true
ReturnToService=2
SlurmctldPidFile=$state/run/slurmctld.pid
SlurmdPidFile=$state/run/slurmd.pid
StateSaveLocation=$state/spool/ctld
SlurmdSpoolDir=$state/spool/d
SlurmctldLogFile=$state/log/slurmctld.log
SlurmdLogFile=$state/log/slurmd.log
NodeName=${host} NodeAddr=127.0.0.1 CPUs=${cpus} RealMemory=${mem} State=UNKNOWN
PartitionName=debug Nodes=${host} Default=YES MaxTime=INFINITE State=UP
CONF

# Job steps (srun inside a batch job) read the default path, not $SLURM_CONF: install our
# file there unless a real cluster's configuration already lives there.
marker="# spami test cluster"
sed -i "1i $marker" "$conf"
if [ -e /etc/slurm/slurm.conf ] && ! head -n1 /etc/slurm/slurm.conf | grep -qF "$marker"; then
  echo "/etc/slurm/slurm.conf belongs to another cluster; not touching it" >&2
  exit 1
fi
mkdir -p /etc/slurm
cp "$conf" /etc/slurm/slurm.conf
export SLURM_CONF="$conf"
slurmctld -f "$conf"
slurmd -f "$conf"
for _ in $(seq 1 60); do
  if sinfo -h -o %t 2>/dev/null | grep -qE '^(idle|mix|alloc)'; then break; fi
  sleep 1
done
cat "$state/run/slurmctld.pid" >> "$state/pids"
cat "$state/run/slurmd.pid" >> "$state/pids"
sinfo -h -o %t | grep -qE '^(idle|mix|alloc)' || { echo "SLURM node did not come up" >&2; exit 1; }
echo "SLURM_CONF=$conf"
