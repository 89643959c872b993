#!/usr/bin/env bash
# A single-node Slurm cluster on localhost, for CI and for trying the cluster scripts on one
# machine: `slurm-local.sh start DIR` installs Debian's slurm-wlm and munge when missing (as root),
# writes its own slurm.conf under DIR and starts munged (unless one already answers), slurmctld and
# slurmd; `slurm-local.sh stop DIR` stops exactly the daemons that start recorded in DIR, by pid.
# Clients find the cluster through SLURM_CONF=DIR/slurm.conf, so /etc/slurm is never touched.
# The recipe is the one checked in ../shared/slurm-local.md.
set -euo pipefail

usage() { echo "usage: $0 start|stop|install DIR" >&2; exit 2; }
[ $# -ge 1 ] || usage
command=$1
dir=${2:-}

install() {
    if command -v slurmctld >/dev/null && command -v munged >/dev/null; then
        return 0
    fi
    if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null; then
        echo "slurm-local: slurm-wlm and munge are missing and cannot be installed here (needs root and apt-get)" >&2
        return 3
    fi
    if ! (apt-get update -qq &&
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends slurm-wlm munge >/dev/null); then
        echo "slurm-local: installing slurm-wlm and munge with apt-get failed (no network or no such packages?)" >&2
        return 3
    fi
}

write_conf() {
    local cpus
    cpus=$(nproc)
    cat > "$dir/slurm.conf" <<CONF
ClusterName=local
SlurmctldHost=localhost
SlurmctldPort=${SLURM_LOCAL_CTLD_PORT:-6817}
SlurmdPort=${SLURM_LOCAL_SLURMD_PORT:-6818}
AuthType=auth/munge
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
ReturnToService=2
SlurmUser=root
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
MpiDefault=none
JobAcctGatherType=jobacct_gather/none
SlurmctldPidFile=$dir/slurmctld.pid
SlurmdPidFile=$dir/slurmd.pid
SlurmdSpoolDir=$dir/slurmd
StateSaveLocation=$dir/state
SlurmctldLogFile=$dir/slurmctld.log
SlurmdLogFile=$dir/slurmd.log
NodeName=localhost CPUs=$cpus RealMemory=2000 State=UNKNOWN
PartitionName=debug Nodes=localhost Default=YES MaxTime=INFINITE State=UP
CONF
}

start_munge() {
    if munge -n 2>/dev/null | unmunge >/dev/null 2>&1; then
        return 0 # a munged already answers: use it, and leave it to whoever started it
    fi
    [ -f /etc/munge/munge.key ] || mungekey -c
    chown munge:munge /etc/munge/munge.key
    chmod 400 /etc/munge/munge.key
    mkdir -p /run/munge /var/log/munge /var/lib/munge
    chown munge:munge /run/munge /var/log/munge /var/lib/munge
    # munged runs as munge and writes its pid file itself: give it a folder it may write.
    mkdir -p "$dir/munge"
    chown munge:munge "$dir/munge"
    su -s /bin/sh munge -c "/usr/sbin/munged --pid-file=$dir/munge/munged.pid"
    for _ in $(seq 50); do
        munge -n 2>/dev/null | unmunge >/dev/null 2>&1 && return 0
        sleep 0.1
    done
    echo "slurm-local: munged did not answer" >&2
    return 1
}

start() {
    [ -n "$dir" ] || usage
    install
    mkdir -p "$dir/slurmd" "$dir/state"
    dir=$(cd "$dir" && pwd)
    chmod 755 "$dir"
    write_conf
    start_munge
    /usr/sbin/slurmctld -f "$dir/slurm.conf"
    /usr/sbin/slurmd -f "$dir/slurm.conf"
    export SLURM_CONF=$dir/slurm.conf
    for _ in $(seq 60); do
        if sinfo -h -o '%t' 2>/dev/null | grep -qx idle; then
            echo "slurm-local: up; export SLURM_CONF=$dir/slurm.conf"
            return 0
        fi
        sleep 0.5
    done
    echo "slurm-local: the node never became idle; logs in $dir" >&2
    return 1
}

stop() {
    [ -n "$dir" ] || usage
    local name pid
    for file in "$dir/slurmd.pid" "$dir/slurmctld.pid" "$dir/munge/munged.pid"; do
        if [ -f "$file" ]; then
            pid=$(cat "$file")
            kill "$pid" 2>/dev/null || true
            for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
            rm -f "$file"
        fi
    done
}

case $command in
    install) install ;;
    start) start ;;
    stop) stop ;;
    *) usage ;;
esac
