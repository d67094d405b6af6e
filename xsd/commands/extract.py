"""`xsd extract`: both models' hidden states on a split, into the store."""
from __future__ import annotations

import argparse
import json
import sys

EXTRACT_DESCRIPTION = """\
Both VLMs answer every sample of the split greedily (up to the profile's max_new_tokens) and
their last-layer states are stored in safetensors shards. Resumable: rerun the same command
after an interruption. Prints samples/s and bytes/sample. A sample whose input cannot be read
is left out of the store and recorded, with the reason, in the store's manifest.json: the
command prints the first few reasons and exits 1. The next run retries it (repair the file and
rerun the same command) and says how many were retried and how many still fail.

Scaling out: the samples are cut into chunks of the profile's shard_size (chunk c becomes
shard c of the store). With --shard I/N a process extracts only the chunks c with c % N == I,
into the same store as the other processes; start N of them, each with its own I and the same
N (one per GPU, node or array task). Each is resumable on its own (rerun it with the same
--shard), and any mix of runs that covers every chunk ends with the store one process writes.
The store is complete, and its report.json written, when the last chunk is done; until then
readers refuse it as incomplete and this command prints "complete": false. The processes
share the store folder through a file lock, so it must be on a file system whose locks hold
across them (a local disk, NFSv4, GPFS, Lustre mounted with flock).

  # one node, 4 GPUs
  for i in 0 1 2 3; do CUDA_VISIBLE_DEVICES=$i xsd extract --profile full --shard $i/4 & done; wait

  # the same under torchrun or accelerate launch, which set RANK and WORLD_SIZE per process
  torchrun --nproc-per-node 4 --no-python sh -c \\
      'CUDA_VISIBLE_DEVICES=$LOCAL_RANK xsd extract --profile full --shard $RANK/$WORLD_SIZE'
  accelerate launch --multi_gpu --num_processes 4 --no_python sh -c \\
      'CUDA_VISIBLE_DEVICES=$LOCAL_RANK xsd extract --profile full --shard $RANK/$WORLD_SIZE'

  # a SLURM array (sbatch --array=0-7): one task per chunk slice
  xsd extract --profile full --shard $SLURM_ARRAY_TASK_ID/$SLURM_ARRAY_TASK_COUNT
"""


def add_commands(subparsers) -> None:
    from xsd.cli import add_device_argument, add_profile_argument

    extract = subparsers.add_parser(
        "extract", help="run both models on a split and store their hidden states",
        description=EXTRACT_DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_profile_argument(extract)
    extract.add_argument("--split", choices=("train", "test", "both"), default="both")
    extract.add_argument(
        "--shard", type=_shard, default=(0, 1), metavar="I/N",
        help="extract only the chunks c with c %% N == I, into the store the other N-1 processes fill "
        "(0 <= I < N; default 0/1: all of them)",
    )
    add_device_argument(extract)
    extract.set_defaults(handler=_extract)



def _shard(text: str) -> tuple[int, int]:
    from xsd.extract import parse_shard

    try:
        return parse_shard(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


SHOWN_FAILURES = 5  # failed samples whose reasons `xsd extract` prints; the manifest holds them all


def _extract(args) -> int:
    from xsd.config import load_profile
    from xsd.extract import extract

    profile = load_profile(args.profile)
    splits = ("train", "test") if args.split == "both" else (args.split,)
    code = 0
    for split in splits:
        report = extract(profile, split, shard=args.shard, device=args.device)
        print(json.dumps({k: report[k] for k in ("split", "shard", "chunks_this_run", "samples", "failed",
                                                  "retried", "bytes_per_sample", "samples_per_s_this_run",
                                                  "complete", "store")}, indent=1))
        code = max(code, _report_failures(report))
    return code


def _report_failures(report: dict) -> int:
    """Retried and failing samples of one split, on stderr; 1 when some could not be extracted."""
    split, failures = report["split"], report["failures"]
    if report["retried"]:
        still = report["retried_still_failing"]
        print(f"xsd extract: {split}: retried {report['retried']} sample(s) that failed before: "
              f"{report['retried'] - still} extracted now, {still} still fail", file=sys.stderr)
    if not failures:
        return 0
    print(f"xsd extract: {split}: {len(failures)} sample(s) could not be extracted and are not in the store "
          f"(repair their files and rerun the same command to retry them):", file=sys.stderr)
    for sample, reason in list(failures.items())[:SHOWN_FAILURES]:
        print(f"  {sample}: {reason}", file=sys.stderr)
    more = f"the other {len(failures) - SHOWN_FAILURES} and " if len(failures) > SHOWN_FAILURES else ""
    print(f"  ({more}every failure with its reason: {report['manifest']})", file=sys.stderr)
    return 1
