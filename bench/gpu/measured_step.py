"""Runs a module as `python -m MODULE ARGS...` would (a tuneflow step, the plain baseline) and, when
it exits, writes what only its own process can see to $BENCH_MEASURE_FILE.rank<RANK>: peak GPU
memory, the torch.distributed backend, peak host memory and the distributions it imported.

    python -m measured_step tuneflow_ml.train --spec spec.json
    deepspeed --num_gpus 1 --no_local_rank --module measured_step tuneflow_ml.train --spec spec.json
"""

import atexit
import importlib.metadata
import json
import os
import resource
import runpy
import sys

import torch
import torch.distributed

measured: dict = {"distributedBackend": None}


def _record_backend(init):
    # Read at initialisation: the process group may be gone by the time the process exits.
    def init_process_group(*args, **kwargs):
        result = init(*args, **kwargs)
        measured["distributedBackend"] = torch.distributed.get_backend()
        return result

    return init_process_group


def imported_distributions() -> list[str]:
    """Distributions whose top-level packages this process imported: what must exist where it runs."""
    packages = importlib.metadata.packages_distributions()
    tops = {name.split(".")[0] for name in list(sys.modules)}
    return sorted({dist for top in tops for dist in packages.get(top, [])})


def write_measurements() -> None:
    on_gpu = torch.cuda.is_available() and torch.cuda.is_initialized()
    if measured["distributedBackend"] is None and torch.distributed.is_initialized():
        measured["distributedBackend"] = torch.distributed.get_backend()
    measured.update({
        "peakGpuAllocatedBytes": torch.cuda.max_memory_allocated() if on_gpu else None,
        "peakGpuReservedBytes": torch.cuda.max_memory_reserved() if on_gpu else None,
        "peakHostRssBytes": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
        "importedDistributions": imported_distributions(),
    })
    path = f"{os.environ['BENCH_MEASURE_FILE']}.rank{os.environ.get('RANK', '0')}"
    with open(path, "w", encoding="utf-8") as f:
        json.dump(measured, f)


def main() -> None:
    module, *args = sys.argv[1:]
    torch.distributed.init_process_group = _record_backend(torch.distributed.init_process_group)
    atexit.register(write_measurements)  # tuneflow steps end in sys.exit
    sys.argv = [module, *args]
    runpy.run_module(module, run_name="__main__", alter_sys=True)


if __name__ == "__main__":
    main()
