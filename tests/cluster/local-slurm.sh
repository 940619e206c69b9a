#!/usr/bin/env bash
# A single-node SLURM cluster on localhost, for testing the workflow's SLURM profile for real.
#
#   tests/cluster/local-slurm.sh start    # install (if missing), configure, start; wait for the node
#   tests/cluster/local-slurm.sh status   # which of our daemons run; sinfo
#   tests/cluster/local-slurm.sh stop     # stop the daemons this script started, remove its config
#
# What `start` does (idempotent: a second call finds the cluster up and returns):
#   * installs Debian's slurm-wlm and munge with apt-get when slurmctld is missing (needs root);
#   * writes /etc/slurm/slurm.conf and gres.conf (the default place: the plugin's job step strips
#     SLURM_CONF from the environment of its inner srun, so a private config is not found there;
#     a slurm.conf this script did not write is never overwritten) for one node, this machine:
#     CPUs and memory from `slurmd -C` (memory raised to 128 GB, not enforced, so the profile's
#     cluster-sized requests are accepted), advertising two GPUs (`Gres=gpu:2`, gres.conf
#     `File=/dev/null` and `/dev/zero`) so the profile's GPU requests really go through sbatch
#     on a machine without GPUs; one partition `debug` (the default); MinJobAge=3600 so `squeue`
#     still reports finished jobs (the profile's status command); no accounting (sacct is off);
#   * starts its own munged (as the munge user, private socket), slurmctld and slurmd on private
#     ports (6917/6918, not the usual 6817/6818), with state, pid and log files under
#     $PDFINFER_SLURM_STATE (default /tmp/pdfinfer-slurm); waits until the node is idle.
# `stop` ends only processes whose pid files this script wrote (checked against the program
# name), then removes the config files it wrote.
#
# Exit codes: 0 ok; 3 this machine cannot run the daemons (not root, no apt-get, a daemon does
# not start); 1 anything else. The reason is printed on the last line of stderr.
set -euo pipefail

STATE=${PDFINFER_SLURM_STATE:-/tmp/pdfinfer-slurm}
CTLD_PORT=${PDFINFER_SLURM_CTLD_PORT:-6917}
SLURMD_PORT=${PDFINFER_SLURM_SLURMD_PORT:-6918}
CONF=/etc/slurm/slurm.conf
GRES_CONF=/etc/slurm/gres.conf
MARKER="# Written by tests/cluster/local-slurm.sh: a single-node test cluster on localhost."
MUNGE_SOCKET=$STATE/munge/munge.socket
WAIT_S=${PDFINFER_SLURM_WAIT_S:-60}
ADVERTISED_MEM_MB=${PDFINFER_SLURM_MEM_MB:-131072}

log() { echo "local-slurm: $*" >&2; }
cannot() { log "cannot run a local SLURM cluster here: $*"; exit 3; }
fail() { log "error: $*"; exit 1; }

is_ours() { [[ $(head -n 1 "$1" 2>/dev/null) == "$MARKER" ]]; }

# pid_alive PIDFILE NAME: the pid in PIDFILE runs and is the program NAME.
pid_alive() {
    local pidfile=$1 name=$2 pid
    [[ -s $pidfile ]] || return 1
    pid=$(<"$pidfile")
    [[ $pid =~ ^[0-9]+$ ]] || return 1
    [[ -r /proc/$pid/comm ]] || return 1
    [[ $(</proc/"$pid"/comm) == "$name" ]]
}

install_packages() {
    if command -v slurmctld >/dev/null && command -v slurmd >/dev/null && command -v munged >/dev/null; then
        return
    fi
    [[ $(id -u) == 0 ]] || cannot "slurm-wlm/munge are not installed and installing them needs root"
    command -v apt-get >/dev/null || cannot "slurm-wlm/munge are not installed and there is no apt-get"
    log "installing slurm-wlm and munge with apt-get"
    export DEBIAN_FRONTEND=noninteractive
    if ! apt-get install -y -qq --no-install-recommends slurm-wlm munge >"$STATE/apt.log" 2>&1; then
        apt-get update -qq >>"$STATE/apt.log" 2>&1 || true
        apt-get install -y -qq --no-install-recommends slurm-wlm munge >>"$STATE/apt.log" 2>&1 ||
            cannot "apt-get install slurm-wlm munge failed (see $STATE/apt.log)"
    fi
}

write_config() {
    local host node_line cpus mem
    host=$(hostname -s 2>/dev/null || uname -n)
    host=${host%%.*}
    # `slurmd -C` prints this machine's hardware as a NodeName line: keep CPUs and memory.
    node_line=$(slurmd -C | head -n 1)
    cpus=$(sed -n 's/.*CPUs=\([0-9]*\).*/\1/p' <<<"$node_line")
    mem=$(sed -n 's/.*RealMemory=\([0-9]*\).*/\1/p' <<<"$node_line")
    [[ -n $cpus && -n $mem ]] || fail "could not read CPUs/RealMemory from 'slurmd -C': $node_line"
    # Advertise at least ADVERTISED_MEM_MB so the profile's cluster-sized memory requests
    # (8 GB per simulation shard) are accepted by sbatch on a small machine. Memory is not
    # enforced here (no cgroups) and the test jobs are tiny; config_overrides stops slurmd
    # from draining a node that has less memory than configured.
    ((mem < ADVERTISED_MEM_MB)) && mem=$ADVERTISED_MEM_MB
    mkdir -p "$STATE/ctld" "$STATE/slurmd" "$STATE/log" /etc/slurm
    for f in "$CONF" "$GRES_CONF"; do
        if [[ -e $f ]] && ! is_ours "$f"; then
            cannot "$f exists and was not written by this script (a SLURM installation is configured here)"
        fi
    done
    cat >"$CONF.tmp" <<EOF
$MARKER
ClusterName=pdfinfer-test
SlurmctldHost=$host(127.0.0.1)
SlurmctldPort=$CTLD_PORT
SlurmdPort=$SLURMD_PORT
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$MUNGE_SOCKET
StateSaveLocation=$STATE/ctld
SlurmdSpoolDir=$STATE/slurmd
SlurmctldPidFile=$STATE/slurmctld.pid
SlurmdPidFile=$STATE/slurmd.pid
SlurmctldLogFile=$STATE/log/slurmctld.log
SlurmdLogFile=$STATE/log/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
GresTypes=gpu
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
JobCompType=jobcomp/none
MpiDefault=none
ReturnToService=2
SlurmdParameters=config_overrides
# Finished jobs stay visible to squeue for an hour: the profile's status command relies on it.
MinJobAge=3600
SlurmctldTimeout=30
SlurmdTimeout=60
NodeName=$host NodeAddr=127.0.0.1 CPUs=$cpus RealMemory=$mem Gres=gpu:2 State=UNKNOWN
PartitionName=debug Nodes=$host Default=YES MaxTime=INFINITE State=UP
EOF
    mv "$CONF.tmp" "$CONF"
    # GPUs without devices: enough for the scheduler to allocate them (it sets CUDA_VISIBLE_DEVICES).
    printf '%s\nNodeName=%s Name=gpu File=/dev/null\nNodeName=%s Name=gpu File=/dev/zero\n' \
        "$MARKER" "$host" "$host" >"$GRES_CONF"
    echo "$host" >"$STATE/node"
}

start_munge() {
    if pid_alive "$STATE/munged.pid" munged; then return; fi
    id munge >/dev/null 2>&1 || fail "no 'munge' user (is the munge package installed?)"
    [[ -r /etc/munge/munge.key ]] || fail "no /etc/munge/munge.key (the munge package creates it)"
    # munged refuses to run as root with the package's key: run it as the munge user, with a
    # private socket, pid, log and seed file so a system munged is never disturbed.
    mkdir -p "$STATE/munge"
    chown munge: "$STATE/munge"
    chmod 0755 "$STATE/munge"
    runuser -u munge -- munged --socket="$MUNGE_SOCKET" --pid-file="$STATE/munge/munged.pid" \
        --log-file="$STATE/munge/munged.log" --seed-file="$STATE/munge/munged.seed" ||
        cannot "munged does not start (see $STATE/munge/munged.log)"
    cp "$STATE/munge/munged.pid" "$STATE/munged.pid"
    for _ in $(seq 50); do [[ -S $MUNGE_SOCKET ]] && return; sleep 0.1; done
    cannot "munged started but its socket $MUNGE_SOCKET did not appear"
}

start_slurm() {
    local host
    host=$(<"$STATE/node")
    if ! pid_alive "$STATE/slurmctld.pid" slurmctld; then
        slurmctld || cannot "slurmctld does not start (see $STATE/log/slurmctld.log)"
    fi
    if ! pid_alive "$STATE/slurmd.pid" slurmd; then
        slurmd -N "$host" || cannot "slurmd does not start (see $STATE/log/slurmd.log)"
    fi
    local state=""
    for _ in $(seq $((WAIT_S * 2))); do
        state=$(sinfo -h -n "$host" -o %T 2>/dev/null || true)
        [[ $state == idle || $state == mixed || $state == allocated ]] && { log "node $host is $state"; return; }
        sleep 0.5
    done
    cannot "node $host did not become idle within ${WAIT_S}s (state '${state}'; see $STATE/log/)"
}

stop_one() {
    local pidfile=$1 name=$2 pid
    if pid_alive "$pidfile" "$name"; then
        pid=$(<"$pidfile")
        kill "$pid"
        for _ in $(seq 100); do [[ -e /proc/$pid ]] || break; sleep 0.1; done
        [[ -e /proc/$pid ]] && kill -9 "$pid" 2>/dev/null || true
        log "stopped $name ($pid)"
    fi
    rm -f "$pidfile"
}

case ${1:-} in
start)
    mkdir -p "$STATE"
    if pid_alive "$STATE/munged.pid" munged && pid_alive "$STATE/slurmctld.pid" slurmctld &&
        pid_alive "$STATE/slurmd.pid" slurmd && is_ours "$CONF"; then
        log "already running"
        exit 0
    fi
    [[ $(id -u) == 0 ]] || cannot "the daemons need root (slurmd runs jobs as their users)"
    install_packages
    write_config
    start_munge
    start_slurm
    log "up: $(sinfo -h -o '%P %D %T' 2>/dev/null)"
    ;;
stop)
    stop_one "$STATE/slurmd.pid" slurmd
    stop_one "$STATE/slurmctld.pid" slurmctld
    stop_one "$STATE/munged.pid" munged
    for f in "$CONF" "$GRES_CONF"; do
        if is_ours "$f"; then rm -f "$f"; fi
    done
    ;;
status)
    for d in munged slurmctld slurmd; do
        if pid_alive "$STATE/$d.pid" "$d"; then echo "$d: running ($(<"$STATE/$d.pid"))"; else echo "$d: stopped"; fi
    done
    if is_ours "$CONF"; then sinfo 2>/dev/null || true; fi
    ;;
*)
    echo "usage: $0 start|stop|status" >&2
    exit 2
    ;;
esac
