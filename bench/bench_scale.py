"""Scale: batch scoring on 1 and 2 processes, and streaming training against the cached path.

    python bench/bench_scale.py predict --rows 1000000          # predict.py, 1 then 2 CPU processes
    python bench/bench_scale.py streaming                       # fake_or_real_news: cached vs --streaming
    python bench/bench_scale.py streaming_memory --rows 2000000 --max_steps 300   # a 2M-row file streamed

Each command runs the real script in a subprocess (``accelerate launch`` over gloo for 2 processes)
and samples every 100 ms the ``VmRSS`` and ``RssAnon`` of it and of every process below it: the
peaks reported are those of the largest single process. ``predict`` writes a CSV of
``title,text,label`` rows (texts of 10–60 words from a Zipf-like 20,000-word vocabulary) and a model
of the default architecture whose tokenizer knows those words (random weights: speed and memory do
not depend on them), then scores the file with one thread per process (``OMP_NUM_THREADS=1``,
``RAYON_RS_NUM_CPUS=1``) and compares the two outputs row for row. ``streaming`` trains on
fake_or_real_news ``truncated128`` twice with the same seed and flags, with and without
``--streaming``. ``streaming_memory`` streams a synthetic file of ``--rows`` rows for ``--max_steps``
steps and lists what the ``datasets`` cache holds afterwards. Results go to ``bench/results/``.
"""

import argparse
import csv
import json
import os
import shutil
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from bench.common import REPO_ROOT, environment, write_json  # noqa: E402
from modeling.data.scoring import side_files  # noqa: E402

WORK = REPO_ROOT / "bench" / ".work" / "scale"
DATA = REPO_ROOT.parent / "shared" / "data" / "fake_or_real_news" / "truncated128"
if not DATA.is_dir():
    DATA = Path("/work/shared/data/fake_or_real_news/truncated128")


class TreeMemory:
    """Peak ``VmRSS``/``RssAnon`` (MiB) of the largest process in a process tree, sampled in a thread."""

    def __init__(self, pid, interval=0.1):
        self.pid, self.interval, self.peak = pid, interval, {"VmRSS": 0.0, "RssAnon": 0.0}
        self.cpu = {}  # pid -> (command line, CPU seconds: user + system, as last seen)
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.thread.start()

    def tree(self, pid):
        pids = [pid]
        try:
            for task in os.listdir(f"/proc/{pid}/task"):
                with open(f"/proc/{pid}/task/{task}/children") as f:
                    for child in f.read().split():
                        pids += self.tree(int(child))
        except OSError:
            pass
        return pids

    def run(self):
        while os.path.exists(f"/proc/{self.pid}"):
            for pid in self.tree(self.pid):
                try:
                    with open(f"/proc/{pid}/stat") as f:
                        fields = f.read().rsplit(")", 1)[1].split()
                    with open(f"/proc/{pid}/cmdline") as f:
                        # a process that has exited (not yet reaped) shows an empty command line
                        command = f.read().replace("\0", " ")[:200] or self.cpu.get(pid, ("",))[0]
                    self.cpu[pid] = (command, (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK"))
                    with open(f"/proc/{pid}/status") as f:
                        for line in f:
                            key = line.split(":")[0]
                            if key in self.peak:
                                self.peak[key] = max(self.peak[key], int(line.split()[1]) / 1024)
                except OSError:
                    continue
            time.sleep(self.interval)


def run_measured(command, env=None, log=None):
    """Run ``command``; return (seconds, peak memory of its largest process, stderr text)."""
    start = time.perf_counter()
    with open(log, "w") if log else open(os.devnull, "w") as out:
        proc = subprocess.Popen(command, env={**os.environ, **(env or {})}, cwd=REPO_ROOT, stdout=out,
                                stderr=subprocess.PIPE, text=True)
        memory = TreeMemory(proc.pid)
        _, err = proc.communicate()
    seconds = time.perf_counter() - start
    memory.thread.join(timeout=1)
    memory.peak["cpu_s_per_process"] = sorted((round(s, 1) for c, s in memory.cpu.values() if "predict.py" in c
                                               or "train.py" in c), reverse=True)
    if proc.returncode:
        raise SystemExit(f"{command[:6]} failed ({proc.returncode}): {err[-3000:]}")
    return seconds, dict(memory.peak), err


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def launcher(processes):
    """The command prefix that starts ``processes`` CPU processes (gloo) or one plain process."""
    if processes == 1:
        return [sys.executable]
    return [sys.executable, "-m", "accelerate.commands.launch", "-q", "--multi_gpu", "--num_processes",
            str(processes), "--num_machines", "1", "--mixed_precision", "no", "--dynamo_backend", "no",
            "--main_process_port", str(free_port())]


def write_synthetic_csv(path, rows, seed=0, words=(10, 60)):
    """``title,text,label`` rows; the label leans on a few cue words so a model can learn it."""
    rng = np.random.default_rng(seed)
    vocab = np.array([f"w{i}" for i in range(20_000)])
    probs = 1.0 / np.arange(1, len(vocab) + 1)
    probs /= probs.sum()
    with open(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(["title", "text", "label"])
        for start in range(0, rows, 10_000):
            n = min(10_000, rows - start)
            lengths = rng.integers(words[0], words[1] + 1, n)
            tokens = vocab[rng.choice(len(vocab), size=lengths.sum(), p=probs)]
            labels = rng.integers(0, 2, n)
            cuts = np.cumsum(lengths)[:-1]
            for i, (text, label) in enumerate(zip(np.split(tokens, cuts), labels)):
                cue = "alpha" if label else "omega"
                writer.writerow([f"title {start + i}", f"{cue} {' '.join(text)}", "FAKE" if label else "REAL"])


def default_model(path, csv_path):
    """A model of the default architecture whose tokenizer is fitted on the first 50,000 rows."""
    from modeling import BiLSTMConfig, BiLSTMForSequenceClassification
    from modeling.tokenizer import train_tokenizer

    with open(csv_path, newline="", encoding="utf-8") as f:
        texts = [f"{r['title']}. {r['text']}" for _, r in zip(range(50_000), csv.DictReader(f))]
    tokenizer = train_tokenizer([texts], min_frequency=3)
    model = BiLSTMForSequenceClassification(BiLSTMConfig(vocab_size=tokenizer.get_vocab_size(),
                                                         label_names=["REAL", "FAKE"]))
    model.tokenizer = tokenizer
    model.save_pretrained(path)


def rows_equal(a, b, tol=1e-5):
    """(rows, rows whose label or index differ, largest probability difference) of two output CSVs."""
    with open(a, newline="", encoding="utf-8") as fa, open(b, newline="", encoding="utf-8") as fb:
        ra, rb = csv.reader(fa), csv.reader(fb)
        header = next(ra)
        assert header == next(rb)
        floats = [i for i, name in enumerate(header) if name == "score" or name.startswith("prob_")]
        rows = differ = 0
        largest = 0.0
        for x, y in zip(ra, rb, strict=True):
            rows += 1
            if [v for i, v in enumerate(x) if i not in floats] != [v for i, v in enumerate(y) if i not in floats]:
                differ += 1
            for i in floats:
                if x[i] and y[i]:
                    largest = max(largest, abs(float(x[i]) - float(y[i])))
    return rows, differ, largest


def bench_predict(args):
    WORK.mkdir(parents=True, exist_ok=True)
    source = WORK / f"score_{args.rows}.csv"
    if not source.exists():
        write_synthetic_csv(source, args.rows)
    model = WORK / "score_model"
    if not (model / "config.json").exists():
        default_model(model, source)
    threads = {"OMP_NUM_THREADS": "1", "RAYON_RS_NUM_CPUS": "1", "ACCELERATE_USE_CPU": "1", "HF_HUB_OFFLINE": "1"}
    report = {"rows": args.rows, "csv_mib": source.stat().st_size / 2**20, "runs": [], "environment": environment()}
    for processes in args.processes:
        out = WORK / f"scores_{processes}p.csv"
        for leftover in side_files(out):  # an earlier, interrupted benchmark's partial output
            shutil.rmtree(leftover) if leftover.is_dir() else leftover.unlink(missing_ok=True)
        load = os.getloadavg()
        command = [*launcher(processes), str(REPO_ROOT / "scripts" / "predict.py"), "--model_name_or_path",
                   str(model), "--input_file", str(source), "--output_file", str(out)]
        seconds, memory, err = run_measured(command, env=threads)
        line = next(x for x in err.splitlines() if x.startswith("wrote "))
        rate = float(line.split(" texts/s")[0].split(", ")[-1].replace(",", ""))
        run = {"processes": processes, "wall_s": seconds, "texts_per_s": rate, "peak_rss_mib": memory["VmRSS"],
               "cpu_s_per_process": memory["cpu_s_per_process"],
               "peak_anon_mib": memory["RssAnon"], "load_before": load, "load_after": os.getloadavg(),
               "line": line}
        report["runs"].append(run)
        print(json.dumps(run), flush=True)
    if len(args.processes) >= 2:
        first, second = (WORK / f"scores_{p}p.csv" for p in args.processes[:2])
        rows, differ, largest = rows_equal(first, second)
        one, two = report["runs"][:2]
        # CPU seconds do not depend on how many other jobs share the cores: on an idle machine with a
        # core per process the wall time is about the busiest process's CPU time.
        report["compare"] = {"rows": rows, "rows_differing": differ, "largest_probability_difference": largest,
                             "speedup": two["texts_per_s"] / one["texts_per_s"],
                             "cpu_speedup": one["cpu_s_per_process"][0] / two["cpu_s_per_process"][0]}
        print(json.dumps(report["compare"]), flush=True)
    write_json(report, REPO_ROOT / "bench" / "results", f"scale_predict_{args.rows}")


def train_command(extra, output_dir):
    return [sys.executable, str(REPO_ROOT / "scripts" / "train.py"), "--train_file", str(DATA / "train.csv"),
            "--validation_file", str(DATA / "valid.csv"), "--test_file", str(DATA / "test.csv"),
            "--text_column", "titletext", "--seed", "1", "--no_baseline", "--output_dir", str(output_dir),
            "--overwrite_output_dir", *extra]


def bench_streaming(args):
    WORK.mkdir(parents=True, exist_ok=True)
    report = {"runs": [], "environment": environment(), "extra": args.extra}
    for mode in args.modes:
        out = WORK / f"train_{mode}"
        cache = WORK / f"hf_cache_{mode}"
        shutil.rmtree(cache, ignore_errors=True)
        extra = args.extra + (["--streaming"] if mode == "streaming" else [])
        load = os.getloadavg()
        seconds, memory, _ = run_measured(train_command(extra, out),
                                          env={"HF_DATASETS_CACHE": str(cache), "OMP_NUM_THREADS": "2"},
                                          log=WORK / f"train_{mode}.log")
        results = json.loads((out / "all_results.json").read_text())
        run = {"mode": mode, "wall_s": seconds, "peak_rss_mib": memory["VmRSS"], "peak_anon_mib": memory["RssAnon"],
               "cache_mib": sum(p.stat().st_size for p in cache.rglob("*") if p.is_file()) / 2**20,
               "load_before": load, "load_after": os.getloadavg(),
               **{k: results[k] for k in ("train_samples_per_second", "train_runtime", "global_step",
                                          "best_global_step", "stop_reason", "eval_accuracy", "test_accuracy",
                                          "train_samples")}}
        report["runs"].append(run)
        print(json.dumps(run), flush=True)
    write_json(report, REPO_ROOT / "bench" / "results", "scale_streaming")


def bench_streaming_memory(args):
    WORK.mkdir(parents=True, exist_ok=True)
    source = WORK / f"train_{args.rows}.csv"
    if not source.exists():
        write_synthetic_csv(source, args.rows, seed=1, words=(100, 200))
    valid = WORK / "valid_2000.csv"
    if not valid.exists():
        write_synthetic_csv(valid, 2000, seed=2, words=(100, 200))
    cache, out = WORK / "hf_cache_stream_memory", WORK / "train_stream_memory"
    shutil.rmtree(cache, ignore_errors=True)
    command = [sys.executable, str(REPO_ROOT / "scripts" / "train.py"), "--train_file", str(source),
               "--validation_file", str(valid), "--streaming", "--no_baseline", "--max_steps", str(args.max_steps),
               "--eval_steps", str(args.max_steps), "--output_dir", str(out), "--overwrite_output_dir"]
    load = os.getloadavg()
    seconds, memory, _ = run_measured(command, env={"HF_DATASETS_CACHE": str(cache)},
                                      log=WORK / "train_stream_memory.log")
    cached = sorted((str(p.relative_to(cache)), p.stat().st_size) for p in cache.rglob("*.arrow"))
    results = json.loads((out / "all_results.json").read_text())
    report = {"rows": args.rows, "csv_mib": source.stat().st_size / 2**20, "wall_s": seconds,
              "peak_rss_mib": memory["VmRSS"], "peak_anon_mib": memory["RssAnon"], "load_before": load,
              "load_after": os.getloadavg(), "arrow_cache_files": cached,
              "largest_cached_table_mib": max((s for _, s in cached), default=0) / 2**20,
              **{k: results[k] for k in ("train_samples", "global_step", "train_samples_per_second")},
              "environment": environment()}
    print(json.dumps({k: v for k, v in report.items() if k != "environment"}), flush=True)
    write_json(report, REPO_ROOT / "bench" / "results", f"scale_streaming_memory_{args.rows}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("predict")
    p.add_argument("--rows", type=int, default=1_000_000)
    p.add_argument("--processes", type=int, nargs="+", default=[1, 2])
    s = sub.add_parser("streaming")
    s.add_argument("--modes", nargs="+", default=["cached", "streaming"], choices=["cached", "streaming"])
    s.add_argument("--extra", nargs=argparse.REMAINDER, default=[], help="More train.py flags for both runs.")
    m = sub.add_parser("streaming_memory")
    m.add_argument("--rows", type=int, default=2_000_000)
    m.add_argument("--max_steps", type=int, default=300)
    args = parser.parse_args()
    {"predict": bench_predict, "streaming": bench_streaming, "streaming_memory": bench_streaming_memory}[args.command](args)


if __name__ == "__main__":
    main()
