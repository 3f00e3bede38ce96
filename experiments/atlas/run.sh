#!/usr/bin/env bash
# Rebuild / continue the committed atlas (experiments/atlas/atlas.csv). Resumable: rerun to continue;
# values come from the score cache, else from the committed table. Run from the repository root.
set -euo pipefail
export OMP_NUM_THREADS=1 MKL_NUM_THREADS=1
# cheap columns (minutes): two workers
nice -n 10 eigennas atlas --scores params,theory,synflow --datasets all --workers 2 --no-progress
nice -n 10 eigennas atlas --scores cntk,cntk_bn --datasets cifar10 --interleave --workers 2 --no-progress
# long columns, one worker per core: naswot (per cell, complete in the committed table) and eigen (per class),
# in one random order, CIFAR-10 images
nice -n 10 eigennas atlas --scores naswot,eigen --datasets cifar10 --interleave --no-progress
# then the other datasets' images
nice -n 10 eigennas atlas --scores eigen,naswot --datasets ImageNet16-120 --interleave --no-progress
nice -n 10 eigennas atlas --scores eigen,naswot --datasets cifar100 --interleave --no-progress
