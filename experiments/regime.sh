#!/usr/bin/env bash
# The measurements of docs/regime.md: an adaptive search at the resnet20-160 regime and its
# comparison, on reduced CIFAR-10 and reduced Devanagari. Each step resumes where it stopped
# (run it again after a crash or the end of a session); on this 2-core CPU a search of 12
# candidates takes about 2 hours and a comparison about 11 minutes a job, so run them alone.
#
#   bash experiments/regime.sh c10-search | c10-compare | dev-search | dev-compare   [OUT_ROOT]
set -euo pipefail
step=${1:?"which step: c10-search, c10-compare, dev-search or dev-compare"}
root=${2:-runs/regime}
data=${DATA:-../shared/data}
augsearch=(python -m augsearch)

resume_or() {  # resume the directory if it holds a started job, else run the command
    local out=$1; shift
    if [ -f "$out/config.yaml" ]; then "${augsearch[@]}" "$1" --resume "$out"; else "${augsearch[@]}" "$@" --out "$out"; fi
}

case $step in
c10-search)
    resume_or "$root/c10-adaptive" run --space adaptive --preset resnet20-160 \
        --dataset "folder:$data/reduced-cifar10/train" --val "folder:$data/reduced-cifar10/val" \
        --trials 12 --startup-trials 6 --engine local --cpus-per-trial 2 --no-report ;;
c10-compare)  # the found policy (the search's policy.yaml) against the published one and the controls
    resume_or "$root/c10-compare" compare "$root/c10-adaptive/policy.yaml" autoaugment/cifar10 \
        --space adaptive --preset resnet20-160 \
        --dataset "folder:$data/reduced-cifar10/train" --val "folder:$data/reduced-cifar10/val" \
        --controls none,random,randaugment,trivial --seeds 3 --engine local ;;
dev-search)  # handwriting: no flip in the base (a mirrored character is another one or none)
    resume_or "$root/dev-adaptive" run --space adaptive --preset resnet20-160 --base crop \
        --dataset "folder:$data/reduced-devanagari/train" --val "folder:$data/reduced-devanagari/test" \
        --trials 12 --startup-trials 6 --engine local --cpus-per-trial 2 --no-report ;;
dev-compare)
    resume_or "$root/dev-compare" compare "$root/dev-adaptive" --preset resnet20-160 --base crop \
        --controls none,random,randaugment,trivial --seeds 3 --engine local ;;
*)
    echo "unknown step $step" >&2; exit 2 ;;
esac
