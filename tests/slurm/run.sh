#!/usr/bin/env bash
# Opt-in test: the embedded DAG's overview (papers: []) through profiles/slurm on a real single-node
# SLURM cluster on this machine (Debian's slurm-wlm + munge, no accounting), then the outputs are
# checked and the cluster is torn down. Needs root and the Debian and PyPI registries.
#   bash tests/slurm/run.sh            (about 3 minutes on 2 cores: 18 jobs through sbatch)
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
WORK="$(mktemp -d /tmp/interprobust-slurm.XXXXXX)"
STATE="$WORK/slurm"
mkdir -p "$STATE"/{spool,d,log}

if ! command -v slurmctld >/dev/null || ! command -v munged >/dev/null; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq slurm-wlm munge >/dev/null
fi
python -c "import snakemake_executor_plugin_slurm" 2>/dev/null || pip install -q snakemake-executor-plugin-slurm

teardown() {
    for pid in "$STATE/slurmd.pid" "$STATE/slurmctld.pid"; do
        [ -f "$pid" ] && kill "$(cat "$pid")" 2>/dev/null || true
    done
    [ -f /run/munge/munged.pid ] && kill "$(cat /run/munge/munged.pid)" 2>/dev/null || true
    if [ -f "$STATE/slurm.conf.orig" ]; then cp "$STATE/slurm.conf.orig" /etc/slurm/slurm.conf
    else rm -f /etc/slurm/slurm.conf; fi
}
trap teardown EXIT

# munge
mkdir -p /run/munge && chown munge:munge /run/munge
[ -f /etc/munge/munge.key ] || /usr/sbin/mungekey --create
runuser -u munge -- /usr/sbin/munged --force
munge -n | unmunge >/dev/null

# a one-node cluster on localhost
HOST="$(hostname -s)"
CPUS="$(nproc)"
MEM=$(( $(awk '/MemTotal/ {print $2}' /proc/meminfo) / 1024 - 512 ))
CONF="$STATE/slurm.conf"
cat > "$CONF" <<CONF
ClusterName=interprobust
SlurmctldHost=$HOST
SlurmUser=root
AuthType=auth/munge
StateSaveLocation=$STATE/spool
SlurmdSpoolDir=$STATE/d
SlurmctldPidFile=$STATE/slurmctld.pid
SlurmdPidFile=$STATE/slurmd.pid
SlurmctldLogFile=$STATE/log/slurmctld.log
SlurmdLogFile=$STATE/log/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
ReturnToService=2
MinJobAge=300
MpiDefault=none
AccountingStorageType=accounting_storage/none
NodeName=$HOST CPUs=$CPUS RealMemory=$MEM State=UNKNOWN
PartitionName=debug Nodes=$HOST Default=YES MaxTime=INFINITE State=UP
CONF
# srun inside a job finds its config only at the default path: install it there (restored on exit)
mkdir -p /etc/slurm
[ -f /etc/slurm/slurm.conf ] && cp /etc/slurm/slurm.conf "$STATE/slurm.conf.orig"
cp "$CONF" /etc/slurm/slurm.conf
slurmctld
slurmd
for _ in $(seq 30); do sinfo -h -o %T 2>/dev/null | grep -q idle && break; sleep 1; done
sinfo

# the workflow, in a copy of the working tree
cp -r "$ROOT/Snakefile" "$ROOT/config.yaml" "$ROOT/config" "$ROOT/workflow" "$ROOT/envs" "$ROOT/profiles" "$WORK/"
cd "$WORK"
printf 'papers: []\n' > overview_only.yaml
snakemake --profile profiles/slurm --configfile config/embedded.yaml overview_only.yaml \
    --slurm-status-command squeue --slurm-init-seconds-before-status-checks 2 --latency-wait 5 \
    --slurm-keep-successful-logs --slurm-no-account --jobs 4 2>&1 | tee "$WORK/snakemake.log"

# every final output exists, and the jobs went through sbatch
for f in results/overview/digits_robustness.md results/overview/digits_rgb32_robustness.pdf \
         results/overview/digits_rgb32_corruptions.md results/overview/digits_training_curves.png; do
    [ -s "$f" ] || { echo "missing output: $f"; exit 1; }
done
grep -q "SLURM run ID\|sbatch" "$WORK/snakemake.log" || { echo "no job went through sbatch"; exit 1; }
n=$(find .snakemake/slurm_logs -name '*.log' | wc -l)
echo "SLURM test passed: $n jobs ran through sbatch (logs in $WORK/.snakemake/slurm_logs)"
