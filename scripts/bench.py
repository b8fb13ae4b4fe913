"""Steps per second of convis against a naive PyTorch loop and Lucent, side by side, one process.

    python scripts/bench.py                     # CPU: VGG16 + MobileNetV2, 128 and 224 px
    python scripts/bench.py --device cuda       # adds a torch.compile variant
    python scripts/bench.py --archs vgg16 --sizes 224 --steps 10 --out bench.json
    python scripts/bench.py --archs --overhead 5  # only the per-step overhead row, 5 repeats
    python scripts/bench.py --archs --overhead 0 --atlas 64  # only the layer atlas, 64 channels

Every approach optimises the same image objective with Adam from the same start for the same
steps: (a) convis's VisualisationModule stepped by its Fabric loop (frozen network cut after the
layer), (b) a naive loop (whole torchvision model, weight gradients on), (c) Lucent's render_vis
(pip install ".[bench]"), pixel parameterisation and no transforms for all. convis+bf16 (bf16
autocast) runs on GPUs and on CPUs with native bfloat16 (AVX512-BF16, AMX). Achieved GFLOP/s is
convis's counted forward+backward FLOPs per second, as a fraction of this machine's measured
3x3-convolution throughput.

The overhead row times convis's own work per step: a whole `run.py experiment=own_network
objective=inversion layer=conv2 image_size=32` run (a network so small that the framework is all
there is; checkpoints, history.csv and logging as configured, no W&B, no progress bar) against a
hand-written loop with the same losses, jitter, bound, optimiser and final phase, both timed at two
lengths so that the start-up cancels out, alternating, several repeats; on a CPU in CPU time of this
process, which other load on the machine hardly changes.

The atlas rows are scripts/bench_atlas.py's with its defaults (VGG16 block3_conv1, 64 px, 10 steps,
32 channels a pass) for the first `--atlas` channels: channels per second of convis's batches of
channels against Lucent one channel at a time and Lucent with a batch objective.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from functools import partial
from pathlib import Path

import lightning as L
import torch
import torchvision
from hydra.utils import instantiate
from torch.utils.flop_counter import FlopCounterMode

import convis
from convis.api import command_config
from convis.backbones import Backbone, build_backbone
from convis.modules.visualisation import Group, VisualisationModule
from convis.objectives import Objective
from convis.objectives.activation import channel
from convis.objectives.classes import class_score
from convis.objectives.inversion import feature_match
from convis.params.pixel import PixelImage
from convis.runtime.loop import Loop

# (case name, layer per arch, objective kind)
CASES = {
    "channel": {"vgg16": "block5_conv3", "mobilenet_v2": "block_16_project_BN"},
    "inversion_shallow": {"vgg16": "block3_conv1", "mobilenet_v2": "block_2_add"},
    "inversion_deep": {"vgg16": "block5_conv3", "mobilenet_v2": "out_relu"},
    "class_score": {"vgg16": "logits", "mobilenet_v2": "logits"},
}
CHANNEL, TARGET = 7, 281


@dataclass
class Row:
    arch: str
    size: int
    case: str
    layer: str
    approach: str
    steps_per_s: float
    extra_mib: float
    gflops_per_step: float | None = None


def _status_mib(field: str) -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def reset_peak(device: str) -> float:
    """Start a new peak-memory window; returns the memory in use now (MiB)."""
    if device == "cuda":
        torch.cuda.reset_peak_memory_stats()
        return torch.cuda.memory_allocated() / 2**20
    try:
        Path("/proc/self/clear_refs").write_text("5")  # resets the RSS high-water mark (Linux)
    except OSError:
        pass
    return _status_mib("VmRSS")


def peak_mib(device: str, baseline: float) -> float:
    """Memory the work since reset_peak added at its peak (GPU allocator or process RSS), MiB."""
    if device == "cuda":
        return torch.cuda.max_memory_allocated() / 2**20 - baseline
    return _status_mib("VmHWM") - baseline


def user_run_peak_mib(arch: str, layer: str, size: int, steps: int = 5) -> float:
    """Peak RSS of a whole `python run.py` inversion in a fresh process (what a user's run costs), MiB."""
    import os
    import subprocess
    import tempfile

    with tempfile.TemporaryDirectory() as out:
        child = subprocess.Popen(
            [
                sys.executable,
                "run.py",
                f"backbone={arch}",
                "backbone.weights=null",
                f"layer={layer}",
                f"image_size={size}",
                f"steps={steps}",
                "logger=none",
                f"hydra.run.dir={out}",
            ],
            cwd=Path(__file__).resolve().parents[1],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        _, status, usage = os.wait4(child.pid, 0)
        child.returncode = os.waitstatus_to_exitcode(status)
    if child.returncode:
        raise RuntimeError(f"run.py inversion for {arch} {layer} failed with exit status {child.returncode}")
    return usage.ru_maxrss / 1024


def bf16_native() -> bool:
    """Whether this CPU runs bfloat16 convolutions natively (AVX512-BF16 or AMX), where bf16 autocast pays."""
    return torch.backends.mkldnn.is_available() and torch.ops.mkldnn._is_mkldnn_bf16_supported()


def sync(device: str) -> None:
    if device == "cuda":
        torch.cuda.synchronize()


def objective_for(case: str, layer: str, backbone: Backbone, target_image: torch.Tensor) -> Objective:
    """The shared objective of a case, as a convis Objective (one loss per image)."""
    if case == "channel":
        return channel(layer, CHANNEL)
    if case == "class_score":
        return class_score([TARGET])
    with torch.no_grad():
        phi0 = backbone.extractor([layer])(target_image)[layer]
    return feature_match(layer, phi0, weight=100.0)


class StepTimer:
    """Wall time of the steps after `warmup` (a callback of convis's loop, called after every step)."""

    every = 1

    def __init__(self, warmup: int, device: str) -> None:
        self.warmup, self.device, self.start, self.end = warmup, device, 0.0, 0.0

    def on_step(self, loop) -> None:
        if loop.step == self.warmup:
            sync(self.device)
            self.start = time.perf_counter()

    def on_end(self, loop) -> None:
        sync(self.device)
        self.end = time.perf_counter()


def run_convis(
    backbone, case, layer, x0, steps, warmup, device, precision="32-true", compile_net=False, uncut=False
) -> tuple[float, float]:
    """convis's own path: VisualisationModule stepped by convis's loop. Returns (steps/s, GFLOP per step).

    `uncut` runs the frozen network to its logits (the ablation of the cut).
    """
    layers = [layer, "logits"] if uncut else [layer]
    objective = objective_for(case, layer, backbone, x0)
    group = Group(layer, slice(0, 1), replace(backbone, compile=compile_net).extractor(layers), objective)
    module = VisualisationModule(
        PixelImage(torch.randn_like(x0) * 0.5), [group], partial(torch.optim.Adam, lr=0.05), steps + warmup
    )
    timer = StepTimer(warmup, device)
    accelerator = "gpu" if device == "cuda" else device
    Loop(steps + warmup, 10, [timer], accelerator=accelerator, precision=precision).fit(module)
    with FlopCounterMode(display=False) as counter:
        image = module.param().detach().requires_grad_()
        objective({**backbone.extractor(layers)(image)}).sum().backward()
    return steps / (timer.end - timer.start), counter.get_total_flops() / 1e9


def run_naive(arch, case, layer_path, x0, steps, warmup, device) -> float:
    """The whole model, weights requiring grad, the layer read by a hook."""
    model = torchvision.models.get_model(arch, weights=None).to(device).eval()
    seen: dict[str, torch.Tensor] = {}
    module = model if layer_path == "" else model.get_submodule(layer_path)
    module.register_forward_hook(lambda m, i, o: seen.__setitem__("a", o))
    with torch.no_grad():
        model(x0)
        phi0 = seen["a"].clone()
    image = (torch.randn_like(x0) * 0.5).requires_grad_()
    optimizer = torch.optim.Adam([image], lr=0.05)
    loss_of: Callable[[torch.Tensor], torch.Tensor] = {
        "channel": lambda a: -a[:, CHANNEL].mean(),
        "class_score": lambda a: -a[:, TARGET].sum(),
    }.get(case, lambda a: 100 * (a - phi0).square().sum() / phi0.square().sum())
    for step in range(steps + warmup):
        if step == warmup:
            sync(device)
            start = time.perf_counter()
        optimizer.zero_grad()
        model(image)
        loss_of(seen["a"]).backward()
        optimizer.step()
    sync(device)
    return steps / (time.perf_counter() - start)


def run_lucent(arch, case, layer_path, x0, size, steps, device) -> float | None:
    """Lucent's render_vis on the same objective, pixel parameterisation, no transforms."""
    try:
        from lucent.optvis import objectives, param, render
    except ImportError:
        return None
    model = torchvision.models.get_model(arch, weights=None).to(device).eval()
    name = layer_path.replace(".", "_")
    if case == "channel":
        objective = objectives.channel(name, CHANNEL)
    elif case == "class_score":
        objective = objectives.Objective(lambda T: -T(name)[:, TARGET].sum())
    else:
        seen = {}
        model.get_submodule(layer_path).register_forward_hook(lambda m, i, o: seen.__setitem__("a", o))
        with torch.no_grad():
            model(x0)
        phi0 = seen["a"].clone()
        objective = objectives.Objective(lambda T: 100 * (T(name) - phi0).square().sum() / phi0.square().sum())
    kwargs = dict(
        param_f=lambda: param.image(size, fft=False, decorrelate=False),
        transforms=[],
        preprocess=False,
        optimizer=lambda params: torch.optim.Adam(params, lr=0.05),
        verbose=False,
        progress=False,
        show_image=False,
        fixed_image_size=size,
    )
    render.render_vis(model, objective, thresholds=(2,), **kwargs)  # warm-up
    sync(device)
    start = time.perf_counter()
    render.render_vis(model, objective, thresholds=(steps,), **kwargs)
    sync(device)
    return steps / (time.perf_counter() - start)


ROOT = Path(__file__).resolve().parents[1]
OVERHEAD = ["experiment=own_network", "objective=inversion", "layer=conv2", "image_size=32"]
OPTIMIZERS = ("ijcv", "rmsprop")  # the overhead row's: inversion's default, and the optimiser of every other step rule
QUIET = ["logger=none", "print_config=false", "trainer.enable_progress_bar=false"]


def clock(device: str) -> float:
    """Seconds: this process's CPU time on a CPU (what other load on the machine hardly changes), else wall time."""
    return time.process_time() if device == "cpu" else time.perf_counter()


def overhead_convis(steps: int, folder: str, device: str, optimizer: str) -> tuple[float, torch.Tensor]:
    """Seconds of a whole convis run of the overhead case (as the CLI runs it), and its image."""
    start = clock(device)
    accelerator = "gpu" if device == "cuda" else "cpu"
    given = [*OVERHEAD, *QUIET, f"optimizer={optimizer}", f"steps={steps}", f"trainer.accelerator={accelerator}"]
    Path(folder).mkdir(parents=True, exist_ok=True)
    result = convis.run(given, output_dir=tempfile.mkdtemp(dir=folder))  # a directory of its own per run
    return clock(device) - start, result.tensors["images"]


def overhead_hand(steps: int, folder: str, device: str, optimizer: str) -> tuple[float, torch.Tensor]:
    """Seconds of the hand-written loop on the overhead case, and its image.

    What convis runs for that config, written out: with optimizer=ijcv the IJCV update, the authors' crop
    jitter of a padded canvas and their uniform start; with rmsprop, RMSprop, a random circular shift and a
    Gaussian start; then feature loss + alpha-norm + TV, the pixel-norm bound after each step, and the final
    phase (a tenth of the rate on the centre crop, no jitter, a fresh optimiser state where the preset says).
    The network, the picture and the start come from the same config and seed, so both end at the same image.
    """
    from convis.backbones.probe import probe
    from convis.experiments import experiment
    from convis.experiments.inversion import jitter_pixels
    from convis.experiments.visualise import initial_image
    from convis.optimisers import IJCV
    from convis.priors.transforms import pad_canvas

    given = [*OVERHEAD, *QUIET, f"optimizer={optimizer}", f"steps={steps}"]
    cfg = command_config(given, Path(folder), folder)
    preset = instantiate(cfg.optimizer)
    run = experiment(cfg)
    L.seed_everything(cfg.seed, verbose=False)
    backbone = run.backbone()
    original = run.data(backbone)[0]["image"][None].to(device)
    net, acts = backbone.net.to(device), {}
    net.get_submodule(backbone.path(cfg.layer)).register_forward_hook(lambda m, i, o: acts.__setitem__("phi", o))
    with torch.no_grad():
        net(original)
    phi0 = acts["phi"].detach().clone()
    alpha, tv = cfg.prior.penalties
    bound = cfg.prior.constraints[0].bound
    extractor = backbone.extractor([cfg.layer])
    stride = probe(extractor.net, extractor.paths, cfg.image_size, backbone.channels)[0].stride
    jitter = jitter_pixels(cfg.objective.jitter, stride)
    crop = preset.jitter == "crop"
    margin, (height, width) = jitter - 1 if crop else 0, original.shape[-2:]
    top = margin // 2
    shape = pad_canvas(original, margin).shape
    image = initial_image("noise", shape, cfg.objective.init_scale, noise=preset.noise).to(device).requires_grad_()
    lr = cfg.optimizer.optim.lr
    scale = [255.0 * s for s in backbone.std]
    optimizer = IJCV([image], lr=lr, pixels=height * width, scale=scale) if crop else preset.optim([image])
    final = preset.final_phase(steps, cfg.objective.steps)
    start = clock(device)
    for step in range(steps):
        robust = step < steps - final
        if step == steps - final:
            if preset.final_reset:
                optimizer.state.clear()
            optimizer.param_groups[0]["lr"] = lr * preset.final_lr_factor
        x = image if robust else image[..., top : top + height, top : top + width]
        seen = x
        if robust and crop and jitter > 1:
            dy, dx = torch.randint(0, jitter, (2,)).tolist()
            seen = x[..., dy : dy + height, dx : dx + width]
        elif robust and not crop:
            dy, dx = torch.randint(-jitter, jitter + 1, (2,)).tolist()
            seen = torch.roll(x, shifts=(dy, dx), dims=(-2, -1))
        net(seen)
        loss = cfg.objective.feature_weight * (acts["phi"] - phi0).square().sum() / phi0.square().sum()
        loss = loss + alpha.weight * (x.norm(dim=1) / alpha.bound).pow(alpha.alpha).mean()
        right = torch.nn.functional.pad(x[..., :, 1:] - x[..., :, :-1], [0, 1])
        down = torch.nn.functional.pad(x[..., 1:, :] - x[..., :-1, :], [0, 0, 0, 1])
        variation = ((right.square() + down.square()) / tv.scale**2 + 1e-12).pow(tv.beta / 2).sum(1).mean()
        loss = loss + tv.weight * variation
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        with torch.no_grad():
            image.mul_((bound / image.norm(dim=1, keepdim=True).clamp_min(1e-12)).clamp(max=1.0))
    picture = image.detach()[..., top : top + height, top : top + width].cpu()  # waits for the device
    return clock(device) - start, picture


def overhead(repeats: int, device: str, optimizer: str = "ijcv", short: int = 50, long: int = 1050) -> dict:
    """convis's seconds per step over the hand-written loop's on the overhead case, each timed at two lengths.

    The ratio is the median of the repeats' ratios, each measured side by side (convis, then the hand loop), so
    that a burst of load on the machine moves one repeat, not the figure.
    """
    sys.path.insert(0, str(ROOT))  # experiment=own_network's network is tests.backbones.tiny_nets.TinyNet
    runs = {
        "convis": partial(overhead_convis, optimizer=optimizer),
        "hand": partial(overhead_hand, optimizer=optimizer),
    }
    per_step: dict[str, list[float]] = {name: [] for name in runs}
    with tempfile.TemporaryDirectory() as folder:
        images = {name: fit(short, f"{folder}/{name}", device)[1].cpu() for name, fit in runs.items()}  # warm-up
        for _ in range(repeats):
            for name, fit in runs.items():
                seconds = fit(long, f"{folder}/{name}", device)[0] - fit(short, f"{folder}/{name}", device)[0]
                per_step[name].append(seconds / (long - short) * 1e3)
    # under heavy load a longer run can take less CPU time than a shorter one: such a repeat measured nothing
    valid = [(c, h) for c, h in zip(per_step["convis"], per_step["hand"]) if c > 0 and h > 0]
    convis_ms = min((c for c, _ in valid), default=None)
    hand_ms = min((h for _, h in valid), default=None)
    return {
        "case": " ".join([*OVERHEAD, f"optimizer={optimizer}"]),
        "device": device,
        "convis_ms_per_step": convis_ms,
        "hand_ms_per_step": hand_ms,
        "ratio": statistics.median(c / h for c, h in valid) if valid else None,
        "ratios": [c / h for c, h in valid],
        "repeats_not_measured": repeats - len(valid),
        "max_abs_difference": float((images["convis"] - images["hand"]).abs().max()),  # after `short` steps
        "load_average": os.getloadavg(),
    }


def overhead_line(found: dict) -> str:
    """The overhead row as printed; a row whose repeats all failed to measure says so instead of a ratio."""
    head = f"per-step overhead, {found['case']} (load {found['load_average'][0]:.1f}): "
    if found["ratio"] is None:
        return head + "not measured: at this load each longer run took less CPU time than its shorter one; run it idle"
    skipped = found["repeats_not_measured"]
    return (
        head + f"convis {found['convis_ms_per_step']:.2f} ms, hand-written loop {found['hand_ms_per_step']:.2f} ms "
        f"(fastest repeats): {found['ratio']:.2f}x (median of repeats {', '.join(f'{r:.2f}x' for r in found['ratios'])}"
        + (f"; {skipped} not measured at this load)" if skipped else ")")
    )


def conv_throughput(device: str, repeats: int = 20) -> float:
    """GFLOP/s of a 3x3 convolution (256 -> 256 channels, 56 x 56, NHWC): the machine's practical ceiling."""
    conv = (
        torch.nn.Conv2d(256, 256, 3, padding=1).to(device).requires_grad_(False).to(memory_format=torch.channels_last)
    )
    x = torch.randn(1, 256, 56, 56, device=device).contiguous(memory_format=torch.channels_last)
    flops = 2 * 256 * 256 * 9 * 56 * 56
    best = float("inf")
    with torch.no_grad():
        for _ in range(repeats):
            sync(device)
            start = time.perf_counter()
            conv(x)
            sync(device)
            best = min(best, time.perf_counter() - start)
    return flops / best / 1e9


def atlas(channels: int, device: str) -> list[dict]:
    """scripts/bench_atlas.py's rows (its defaults) for the first `channels` channels, printed as they come."""
    spec = importlib.util.spec_from_file_location("bench_atlas", Path(__file__).with_name("bench_atlas.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    rows = module.atlas_rows(count=channels, device=device, **module.DEFAULTS)
    for row in rows:
        print(f"layer atlas, {channels} channels: {module.line(row)}", flush=True)
    return rows


def bench(args: argparse.Namespace) -> dict:
    device = args.device
    atlas_rows = atlas(args.atlas, device) if args.atlas > 0 else []
    found = [overhead(args.overhead, device, optimizer) for optimizer in OPTIMIZERS] if args.overhead > 0 else []
    found = [row for row in found if row]
    for row in found:
        print(overhead_line(row), flush=True)
    peak = conv_throughput(device)
    print(f"3x3 convolution throughput on {device}: {peak:.1f} GFLOP/s", flush=True)
    rows: list[Row] = []

    def record(row: Row) -> None:
        rows.append(row)
        achieved = row.gflops_per_step * row.steps_per_s if row.gflops_per_step else None
        share = f"  {achieved / peak:5.0%} of fp32 conv peak" if achieved else ""
        print(
            f"{row.arch:>12} {row.size:>4} {row.case:>17} {row.approach:>14} {row.steps_per_s:8.2f} steps/s "
            f"{row.extra_mib:+8.0f} MiB{share}",
            flush=True,
        )

    for arch in args.archs:
        backbone = build_backbone(arch, weights=None, seed=0)
        backbone.net.to(device)
        for size in args.sizes:
            x0 = torch.randn(1, 3, size, size, device=device)
            for case in args.cases:
                layer = CASES[case][arch]
                path = backbone.path(layer)
                variants = [("convis", {})] + ([("convis-uncut", {"uncut": True})] if layer != "logits" else [])
                if device == "cuda" or bf16_native():
                    variants += [("convis+bf16", {"precision": "bf16-mixed"})]
                if device == "cuda":
                    variants += [("convis+compile", {"compile_net": True})]
                for approach, extra in variants:
                    base = reset_peak(device)
                    rate, gflops = run_convis(backbone, case, layer, x0, args.steps, args.warmup, device, **extra)
                    record(Row(arch, size, case, layer, approach, rate, peak_mib(device, base), gflops))
                base = reset_peak(device)
                rate = run_naive(arch, case, path, x0, args.steps, args.warmup, device)
                record(Row(arch, size, case, layer, "naive", rate, peak_mib(device, base)))
                base = reset_peak(device)
                rate = run_lucent(arch, case, path, x0, size, args.steps, device)
                if rate is not None:
                    record(Row(arch, size, case, layer, "lucent", rate, peak_mib(device, base)))
    memory = (
        {
            f"{a} {CASES['inversion_deep'][a]} {s}px": user_run_peak_mib(a, CASES["inversion_deep"][a], s)
            for a in args.archs
            for s in args.sizes
        }
        if device == "cpu"
        else {}
    )
    for what, mib in memory.items():
        print(f"peak RSS of a whole run.py inversion, {what}: {mib:.0f} MiB")
    return {
        "device": device,
        "run_peak_rss_mib": memory,
        "machine": platform.processor() or platform.machine(),
        "threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "conv_gflops": peak,
        "overhead": found,
        "atlas": atlas_rows,
        "rows": [asdict(r) for r in rows],
        "ratios": ratios(rows),
    }


def ratios(rows: list[Row]) -> list[dict]:
    """convis's steps/s over the naive loop's and Lucent's, per arch, size and case."""
    out = []
    key = lambda r: (r.arch, r.size, r.case)  # noqa: E731
    by = {(key(r), r.approach): r.steps_per_s for r in rows}
    for k in dict.fromkeys(key(r) for r in rows):
        convis = by[(k, "convis")]
        out.append(
            {
                "arch": k[0],
                "size": k[1],
                "case": k[2],
                "vs_naive": convis / by[(k, "naive")],
                "vs_lucent": convis / by[(k, "lucent")] if (k, "lucent") in by else None,
            }
        )
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--archs", nargs="*", default=["vgg16", "mobilenet_v2"], choices=["vgg16", "mobilenet_v2"])
    parser.add_argument("--sizes", nargs="+", type=int, default=[128, 224])
    parser.add_argument("--cases", nargs="+", default=list(CASES), choices=list(CASES))
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu", choices=["cpu", "cuda"])
    parser.add_argument("--out", default="bench.json")
    parser.add_argument("--overhead", type=int, default=3, help="repeats of the per-step overhead row (0: skip it)")
    parser.add_argument("--atlas", type=int, default=32, help="channels of the layer-atlas rows (0: skip them)")
    args = parser.parse_args(argv)
    result = bench(args)
    print("\nconvis speed-up   arch  size  case: vs naive, vs Lucent")
    for r in result["ratios"]:
        lucent = f"{r['vs_lucent']:.2f}x" if r["vs_lucent"] else "n/a"
        print(f"  {r['arch']:>12} {r['size']:>4} {r['case']:>17}: {r['vs_naive']:.2f}x, {lucent}")
    Path(args.out).write_text(json.dumps(result, indent=2))
    print(f"written: {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
