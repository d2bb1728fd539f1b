#!/usr/bin/env bash
# Installs Debian's Slurm (slurmctld, slurmd) and munge as a one-node cluster on this machine, for the test that
# submits a sweep's job array (Emulator.Tests/Analysis/SlurmTests.cs). Idempotent and quiet: installs packages
# only when missing, writes slurm.conf for this host, starts munged, slurmctld and slurmd when they are not running.
set -euo pipefail
if ! command -v sbatch >/dev/null 2>&1 || ! command -v slurmctld >/dev/null 2>&1 || ! command -v slurmd >/dev/null 2>&1 \
   || ! command -v munged >/dev/null 2>&1; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >/dev/null 2>&1 || true
  apt-get install -y -qq --no-install-recommends slurm-wlm munge >/dev/null 2>&1 \
    || { echo "install-slurm: apt-get install slurm-wlm munge failed" >&2; exit 1; }
fi
host=$(hostname -s)
cpus=$(nproc)
mem=$(awk '/MemTotal/ {print int($2 / 1024 * 0.8)}' /proc/meminfo)
conf_dir=/etc/slurm
mkdir -p "$conf_dir" /var/spool/slurmctld /var/spool/slurmd /var/log/slurm /run/munge /var/lib/munge /var/log/munge
conf="$conf_dir/slurm.conf"
want=$(cat <<CONF
# One-node cluster written by .ci/install-slurm.sh
ClusterName=mmusim-ci
SlurmctldHost=$host
AuthType=auth/munge
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
ReturnToService=2
SlurmctldPidFile=/run/slurmctld.pid
SlurmdPidFile=/run/slurmd.pid
SlurmdSpoolDir=/var/spool/slurmd
StateSaveLocation=/var/spool/slurmctld
SlurmctldLogFile=/var/log/slurm/slurmctld.log
SlurmdLogFile=/var/log/slurm/slurmd.log
SlurmUser=root
MaxArraySize=10001
NodeName=$host CPUs=$cpus RealMemory=$mem State=UNKNOWN
PartitionName=debug Nodes=$host Default=YES MaxTime=INFINITE State=UP
CONF
)
if [ ! -f "$conf" ] || [ "$(cat "$conf")" != "$want" ]; then
  printf '%s\n' "$want" > "$conf"
  changed=1
else
  changed=0
fi
# munge: a key, owned by the munge user, and the daemon.
if [ ! -s /etc/munge/munge.key ]; then
  mkdir -p /etc/munge
  dd if=/dev/urandom of=/etc/munge/munge.key bs=1024 count=1 status=none
fi
chown -R munge:munge /etc/munge /var/lib/munge /var/log/munge /run/munge 2>/dev/null || true
chmod 0700 /etc/munge; chmod 0400 /etc/munge/munge.key
if ! pgrep -x munged >/dev/null; then
  runuser -u munge -- /usr/sbin/munged --force >/dev/null 2>&1 || /usr/sbin/munged --force >/dev/null 2>&1
fi
if [ "$changed" = 1 ]; then
  # The daemons this script started before, by their pid files: they must read the new configuration.
  for pid in /run/slurmctld.pid /run/slurmd.pid; do
    [ -s "$pid" ] && kill "$(cat "$pid")" 2>/dev/null || true
  done
  sleep 1
fi
pgrep -x slurmctld >/dev/null || /usr/sbin/slurmctld >/dev/null 2>&1
pgrep -x slurmd >/dev/null || /usr/sbin/slurmd >/dev/null 2>&1
# Wait (bounded) for the node to come up, then make sure it takes jobs.
for _ in $(seq 1 30); do
  if sinfo -h -o '%T' 2>/dev/null | grep -qE 'idle|mixed|allocated'; then
    break
  fi
  scontrol update NodeName="$host" State=RESUME >/dev/null 2>&1 || true
  sleep 1
done
sinfo -h -o '%T' | grep -qE 'idle|mixed|allocated' || { echo "install-slurm: the node did not come up (see /var/log/slurm)" >&2; exit 1; }
