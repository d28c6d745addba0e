"""Count the function hops of two walks through the project: training to the first optimizer step,
and one prediction from a saved model.

    python bench/walk.py train            # scripts/train.py --train_file data/demo.csv ... (1st step)
    python bench/walk.py predict --model_name_or_path outputs/demo   # scripts/predict.py "some text"

Method. The walk runs in this process under ``sys.setprofile``. A *project function* is a function
whose code lives in a file under ``modeling/`` or ``scripts/`` of this checkout, except module bodies,
lambdas and comprehensions (code names in angle brackets), which are part of the function around
them. A *hop* is one ``call`` event whose callee is a project function and whose immediate caller
(the frame that made the call) is a project function too, counted every time it happens along the
executed path, once per activation of the caller: a function that calls ``f`` in a loop, or twice,
makes one hop to ``f``; called again later (a new activation) it hops again. A call made through a
library (a ``datasets.map`` callback, a ``torch`` hook) is not a hop, though what the callback calls
is, and a generator counts once, when it is first entered, not at each resumption. ``datasets``
caching is turned off so that the ``map`` callbacks run on every walk (a cached result would skip
them). Calls made while a module is being imported are not counted (their caller is a
module body). *Modules* are the distinct project modules of the callees of all project-function calls
(hops or not). *training → data* counts the hops whose caller lives in ``modeling/training/`` and whose
callee lives in ``modeling/data/``: each is one hand-over of control from the recipe to the data wing.

The train walk stops at the first optimizer step: a global optimizer step pre-hook
(``torch.optim.optimizer.register_optimizer_step_pre_hook``) raises a sentinel that no ``except
Exception`` catches. The predict walk runs ``predict.py`` to its end. ``--list`` prints every hop.
"""

import argparse
import contextlib
import io
import os
import runpy
import sys
import tempfile
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PROJECT_DIRS = (str(ROOT / "modeling") + os.sep, str(ROOT / "scripts") + os.sep)


class FirstStep(BaseException):
    """Raised at the first optimizer step; a BaseException so that no ``except Exception`` stops it."""


def module_of(filename):
    return str(Path(filename).resolve().relative_to(ROOT).with_suffix("")).replace(os.sep, ".")


def is_inline(code):
    return code.co_filename.startswith(PROJECT_DIRS) and code.co_name in ("<lambda>", "<listcomp>", "<dictcomp>",
                                                                          "<setcomp>", "<genexpr>")


def is_project(code):
    return code.co_filename.startswith(PROJECT_DIRS) and not code.co_name.startswith("<")


class Walk:
    def __init__(self):
        self.hops, self.modules, self.handovers = [], Counter(), 0
        self.generator_frames = set()
        self.called = {}  # id(caller frame) -> the project functions this activation has called

    def profile(self, frame, event, arg):
        if event == "return":
            self.called.pop(id(frame), None)  # the activation ended; its frame id may be reused
            return
        if event != "call" or not is_project(frame.f_code):
            return
        code = frame.f_code
        if code.co_flags & 0x20 or code.co_flags & 0x200:  # generator / async generator: first entry only
            key = id(frame)
            if key in self.generator_frames:
                return
            self.generator_frames.add(key)
        callee = module_of(code.co_filename)
        self.modules[callee] += 1
        caller = frame.f_back
        while caller is not None and is_inline(caller.f_code):  # a comprehension or lambda: its function calls
            caller = caller.f_back
        if caller is None or not is_project(caller.f_code):
            return
        called = self.called.setdefault(id(caller), set())
        if code in called:  # a loop, or the same call again in this activation of the caller
            return
        called.add(code)
        source = module_of(caller.f_code.co_filename)
        self.hops.append((source, caller.f_code.co_name, callee, code.co_name))
        if source.startswith("modeling.training") and callee.startswith("modeling.data"):
            self.handovers += 1

    def run(self, fn):
        sys.setprofile(self.profile)
        try:
            return fn()
        finally:
            sys.setprofile(None)

    def report(self, name, listing=False):
        if listing:
            for source, f, callee, g in self.hops:
                print(f"  {source}.{f} -> {callee}.{g}")
        print(f"{name}: {len(self.hops)} hops through {len(self.modules)} project modules;"
              f" training -> data hand-overs: {self.handovers}")
        data = [h for h in self.hops if h[2].startswith("modeling.data")]
        data_modules = {m for m in self.modules if m.startswith("modeling.data")}
        print(f"{name}: data wing: {len(data)} hops into it, {len(data_modules)} of its modules")
        print("  modules: " + ", ".join(sorted(self.modules)))


def script_main(path):
    namespace = runpy.run_path(str(ROOT / "scripts" / path), run_name="walk")
    return namespace["main"]


def walk_train(listing, extra):
    import datasets

    datasets.disable_caching()
    from torch.optim.optimizer import register_optimizer_step_pre_hook

    def stop(optimizer, args, kwargs):
        raise FirstStep

    register_optimizer_step_pre_hook(stop)
    main = script_main("train.py")
    with tempfile.TemporaryDirectory() as out:
        argv = ["--train_file", str(ROOT / "data" / "demo.csv"), "--output_dir", out, "--no_baseline",
                "--max_steps", "2", *extra]
        walk = Walk()
        with contextlib.redirect_stdout(io.StringIO()):
            try:
                walk.run(lambda: main(argv))
            except FirstStep:
                pass
            else:
                raise SystemExit("the walk ended without an optimizer step")
    walk.report("train.py --train_file data/demo.csv -> first optimizer step", listing)


def walk_predict(listing, model, extra):
    import datasets

    datasets.disable_caching()
    main = script_main("predict.py")
    walk = Walk()
    with contextlib.redirect_stdout(io.StringIO()):
        walk.run(lambda: main(["--model_name_or_path", model, "--backend", "torch", *extra, "some text to classify"]))
    walk.report(f"predict.py --model_name_or_path {model} 'some text to classify'", listing)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("walk", choices=("train", "predict"))
    parser.add_argument("--model_name_or_path", help="The predict walk's model folder.")
    parser.add_argument("--list", action="store_true", help="Print every hop.")
    args, extra = parser.parse_known_args()
    sys.path.insert(0, str(ROOT))
    os.chdir(ROOT)
    if args.walk == "train":
        walk_train(args.list, extra)
    else:
        if not args.model_name_or_path:
            parser.error("the predict walk needs --model_name_or_path")
        walk_predict(args.list, args.model_name_or_path, extra)


if __name__ == "__main__":
    main()
