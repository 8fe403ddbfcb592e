#!/usr/bin/env python3
"""PyTorch peer of `npm run bench -- models --vs-pytorch` (scripts/bench/models.bench.ts).

Builds the same two networks as libs/pipeline/src/models/bcdunet.ts and cnn3d.ts, layer for layer
(channels first), checks their parameter counts against the ones tfjs reported, and times training
steps (the same batch, loss and Adam optimizer) and inference on the given number of threads.

Usage: pytorch-peer.py '<json request>'. The request (written by models.bench.ts):
  {"threads": 2, "steps": 3, "inferReps": 3, "warmup": 1, "learningRate": 1e-4, "paramsOnly": false,
   "bcdunet": {"size": 128, "base": 32, "dropout": 0.5, "trainBatch": 5, "inferBatch": 5, "params": 5167365},
   "cnn3d": {"inputShape": [50, 128, 128], "filters": [8, 16, 32, 64, 128], "denseUnits": 32,
             "dropout": 0.3, "classes": 3, "trainBatch": 2, "inferBatch": 1, "params": 920715}}
Either network may be left out. Writes one JSON object per line to stdout:
  {"kind": "info", ...}                      torch version, threads, oneDNN
  {"kind": "params", "model", "torch", "tfjs"} one per network, before any timing
  {"kind": "result", "metric", "value", "unit", ...} one per measurement
  {"kind": "unavailable", "reason"}          torch cannot be imported (exit status 0)
  {"kind": "error", "message"}               bad request or a parameter mismatch (exit status 3)
"""
import json
import os
import re
import sys
import time


def emit(obj):
    sys.stdout.write(json.dumps(obj) + "\n")
    sys.stdout.flush()


def fail(message):
    emit({"kind": "error", "message": message})
    sys.stderr.write(f"pytorch-peer: {message}\n")
    sys.exit(3)


try:
    import torch
    from torch import nn
    import torch.nn.functional as F
except ImportError as error:  # the bench turns this into one result with a note
    emit({"kind": "unavailable", "reason": f"PyTorch not installed: apt install python3-torch ({error})"})
    sys.exit(0)

# Keras' (and tfjs') fuzz factor: the losses clip probabilities to [EPS, 1 - EPS]; also Adam's epsilon.
EPS = 1e-7


def hard_sigmoid(x):
    """Keras' hard_sigmoid (ConvLSTM2D's recurrent activation): clip(0.2 x + 0.5, 0, 1)."""
    return torch.clamp(0.2 * x + 0.5, 0.0, 1.0)


class ConvLstmMerge(nn.Module):
    """Keras ConvLSTM2D (3 x 3, 'same', go_backwards, final state only) over the 2-step sequence
    [skip, up]: with go_backwards the steps run up first, then skip. One convolution per step over
    concat(x, h) with concat(W, U), as libs/pipeline/src/models/convlstm-fused.ts computes it (same
    parameter count as Keras' kernel + recurrent kernel + bias; the first step's h is zero but is
    convolved all the same, as in tfjs)."""

    def __init__(self, in_channels, filters):
        super().__init__()
        self.filters = filters
        self.conv = nn.Conv2d(in_channels + filters, 4 * filters, 3, padding=1)

    def forward(self, skip, up):
        n, _, h, w = up.shape
        hidden = up.new_zeros((n, self.filters, h, w))
        cell = up.new_zeros((n, self.filters, h, w))
        for x in (up, skip):
            z = self.conv(torch.cat([x, hidden], 1))
            zi, zf, zc, zo = torch.split(z, self.filters, 1)
            cell = hard_sigmoid(zf) * cell + hard_sigmoid(zi) * torch.tanh(zc)
            hidden = hard_sigmoid(zo) * torch.tanh(cell)
        return hidden


def conv_relu(cin, cout):
    return nn.Sequential(nn.Conv2d(cin, cout, 3, padding=1), nn.ReLU())


class BcduNet(nn.Module):
    """BCDU-Net D3 as bcdunet.ts builds it (covidctnet-spec.md section 2)."""

    def __init__(self, base, dropout):
        super().__init__()
        b = base
        self.enc1 = nn.Sequential(conv_relu(1, b), conv_relu(b, b))
        self.enc2 = nn.Sequential(conv_relu(b, 2 * b), conv_relu(2 * b, 2 * b))
        self.enc3 = nn.Sequential(conv_relu(2 * b, 4 * b), conv_relu(4 * b, 4 * b))
        self.drop3 = nn.Dropout(dropout)
        self.pool = nn.MaxPool2d(2)
        self.d1 = nn.Sequential(conv_relu(4 * b, 8 * b), conv_relu(8 * b, 8 * b), nn.Dropout(dropout))
        self.d2 = nn.Sequential(conv_relu(8 * b, 8 * b), conv_relu(8 * b, 8 * b), nn.Dropout(dropout))
        self.d3 = nn.Sequential(conv_relu(16 * b, 8 * b), conv_relu(8 * b, 8 * b), nn.Dropout(dropout))
        self.decoders = nn.ModuleList([
            self._decoder(8 * b, 4 * b, 2 * b),
            self._decoder(4 * b, 2 * b, b),
            self._decoder(2 * b, b, b // 2),
        ])
        self.head = nn.Sequential(conv_relu(b, 2), nn.Conv2d(2, 1, 1), nn.Sigmoid())

    @staticmethod
    def _decoder(cin, up_filters, lstm_filters):
        # Conv2DTranspose(k 2, s 2, 'same') -> BatchNorm (Keras eps 1e-3, momentum 0.99) -> ReLU,
        # ConvLSTM over [skip, up], two convs.
        return nn.ModuleDict({
            "up": nn.Sequential(nn.ConvTranspose2d(cin, up_filters, 2, stride=2),
                                nn.BatchNorm2d(up_filters, eps=1e-3, momentum=0.01), nn.ReLU()),
            "lstm": ConvLstmMerge(up_filters, lstm_filters),
            "convs": nn.Sequential(conv_relu(lstm_filters, up_filters), conv_relu(up_filters, up_filters)),
        })

    def forward(self, x):
        c1 = self.enc1(x)
        c2 = self.enc2(self.pool(c1))
        c3 = self.enc3(self.pool(c2))
        skip3 = self.drop3(c3)
        d1 = self.d1(self.pool(c3))
        d2 = self.d2(d1)
        u = self.d3(torch.cat([d2, d1], 1))
        for decoder, skip in zip(self.decoders, (skip3, c2, c1)):
            up = decoder["up"](u)
            u = decoder["convs"](decoder["lstm"](skip, up))
        return self.head(u)


class Cnn3d(nn.Module):
    """The CovidCTNet 3-D CNN as cnn3d.ts builds it without its non-paper options (spec section 5)."""

    def __init__(self, input_shape, filters, dense_units, dropout, classes):
        super().__init__()
        layers = []
        cin = 1
        spatial = [n - 2 for n in input_shape]
        for stage, f in enumerate(filters):
            for i in range(2):
                first = stage == 0 and i == 0
                layers += [nn.Conv3d(cin, f, 3, padding=0 if first else 1), nn.ReLU()]
                cin = f
            layers.append(nn.MaxPool3d(2))
            spatial = [n // 2 for n in spatial]
        flat = cin * spatial[0] * spatial[1] * spatial[2]
        layers += [nn.Flatten(), nn.Linear(flat, dense_units), nn.ReLU(), nn.Dropout(dropout),
                   nn.Linear(dense_units, classes), nn.Softmax(dim=1)]
        self.net = nn.Sequential(*layers)

    def forward(self, x):
        return self.net(x)


def binary_crossentropy(target, p):
    """tfjs-layers' binaryCrossentropy on probabilities (clip, logit, sigmoid cross-entropy), mean."""
    p = torch.clamp(p, EPS, 1 - EPS)
    return F.binary_cross_entropy_with_logits(torch.log(p / (1 - p)), target)


def categorical_crossentropy(target, p):
    """tfjs-layers' categoricalCrossentropy on probabilities (normalise, clip, -sum y log p), mean."""
    p = torch.clamp(p / p.sum(1, keepdim=True), EPS, 1 - EPS)
    return -(target * torch.log(p)).sum(1).mean()


def count_params(model):
    """Weights as tfjs counts them: parameters plus BatchNorm's moving mean and variance."""
    buffers = sum(b.numel() for name, b in model.named_buffers() if not name.endswith("num_batches_tracked"))
    return sum(p.numel() for p in model.parameters()) + buffers


def build(name, cfg):
    if name == "bcdunet":
        size, base = cfg["size"], cfg["base"]
        if size % 8 != 0 or base % 2 != 0:
            fail(f"bcdunet: size must be a multiple of 8 and base even, got size {size}, base {base}")
        model = BcduNet(base, cfg.get("dropout", 0.5))
        g = torch.Generator().manual_seed(1)

        def data(batch):
            return torch.rand((batch, 1, size, size), generator=g)

        def target(batch):
            return torch.rand((batch, 1, size, size), generator=g)

        return model, data, target, binary_crossentropy, "slices"
    if name == "cnn3d":
        for option in ("batchNorm", "groupNorm", "leakyRelu"):
            if cfg.get(option):
                fail(f"cnn3d: the peer builds the paper network only, without {option}")
        if cfg.get("inputChannels", 1) != 1:
            fail("cnn3d: the peer builds the paper network only (one input channel)")
        shape, classes = cfg["inputShape"], cfg["classes"]
        model = Cnn3d(shape, cfg["filters"], cfg["denseUnits"], cfg["dropout"], classes)
        g = torch.Generator().manual_seed(3)

        def data(batch):
            return torch.rand((batch, 1, *shape), generator=g) * 0.4 - 0.2

        def target(batch):
            return F.one_hot(torch.arange(batch) % classes, classes).float()

        return model, data, target, categorical_crossentropy, "volumes"
    fail(f"unknown network {name!r}")
    return None


def machine_busy_seconds():
    """Busy CPU seconds of the whole machine since boot, from /proc/stat; None off Linux."""
    try:
        with open("/proc/stat") as f:
            fields = [int(v) for v in f.readline().split()[1:]]
    except (OSError, ValueError):
        return None
    user, nice, system, _idle, _iowait, irq, softirq, steal = (fields + [0] * 8)[:8]
    return (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")


def timed(reps, fn):
    """Mean wall and process CPU seconds per call over `reps` calls, and the share of the machine's CPU
    time that other processes used meanwhile (None off Linux)."""
    b0, t0, c0 = machine_busy_seconds(), time.perf_counter(), time.process_time()
    for _ in range(reps):
        fn()
    wall, own, b1 = time.perf_counter() - t0, time.process_time() - c0, machine_busy_seconds()
    others = None if b0 is None or b1 is None else round(max(0.0, (b1 - b0 - own) / (wall * len(os.sched_getaffinity(0)))), 2)
    return wall / reps, own / reps, others


def measure(name, cfg, model, data, target, loss_fn, unit, request):
    lr, warmup = request.get("learningRate", 1e-4), request.get("warmup", 1)
    base = {"model": name, "threads": torch.get_num_threads()}

    infer_batch = cfg["inferBatch"]
    x = data(infer_batch)
    model.eval()

    def infer():
        with torch.no_grad():
            model(x).sum().item()

    for _ in range(warmup):
        infer()
    seconds, cpu, others = timed(request["inferReps"], infer)
    emit({"kind": "result", "metric": f"{name}.infer.{unit}_per_s", "value": infer_batch / seconds, "unit": f"{unit}/s",
          **base, **({} if others is None else {"others_cpu_share": others}), "batch": infer_batch, "seconds_per_batch": seconds, "cpu_seconds_per_batch": cpu, "reps": request["inferReps"]})

    train_batch = cfg["trainBatch"]
    xb, yb = data(train_batch), target(train_batch)
    model.train()
    optimizer = torch.optim.Adam(model.parameters(), lr=lr, eps=EPS)

    def step():
        optimizer.zero_grad(set_to_none=True)
        loss = loss_fn(yb, model(xb))
        loss.backward()
        optimizer.step()
        loss.item()

    for _ in range(warmup):
        step()
    seconds, cpu, others = timed(request["steps"], step)
    emit({"kind": "result", "metric": f"{name}.train.{unit}_per_s", "value": train_batch / seconds, "unit": f"{unit}/s",
          **base, **({} if others is None else {"others_cpu_share": others}), "batch": train_batch, "seconds_per_step": seconds, "cpu_seconds_per_step": cpu, "steps": request["steps"]})


def cpu_capability():
    """The vector ISA ATen's own kernels were dispatched to ("AVX2"); oneDNN picks its own at run time."""
    match = re.search(r"CPU capability usage: (\S+)", torch.__config__.show())
    return match.group(1) if match else None


def main():
    if len(sys.argv) != 2:
        fail("usage: pytorch-peer.py '<json request>'")
    try:
        request = json.loads(sys.argv[1])
    except json.JSONDecodeError as error:
        fail(f"the request is not JSON: {error}")
    threads = request.get("threads")
    if not isinstance(threads, int) or threads < 1:
        fail(f"threads must be a positive integer, got {threads!r}")
    torch.set_num_threads(threads)
    torch.set_num_interop_threads(1)
    torch.manual_seed(0)
    emit({"kind": "info", "torch": torch.__version__, "threads": torch.get_num_threads(),
          "mkldnn": torch.backends.mkldnn.is_available(), "cpu_capability": cpu_capability()})
    models = [(name, request[name]) for name in ("bcdunet", "cnn3d") if name in request]
    built = []
    for name, cfg in models:
        model, data, target, loss_fn, unit = build(name, cfg)
        count = count_params(model)
        emit({"kind": "params", "model": name, "torch": count, "tfjs": cfg.get("params")})
        if cfg.get("params") is not None and count != cfg["params"]:
            fail(f"{name}: PyTorch has {count:,} parameters, tfjs {cfg['params']:,}: the networks differ")
        built.append((name, cfg, model, data, target, loss_fn, unit))
    if request.get("paramsOnly"):
        return
    for name, cfg, model, data, target, loss_fn, unit in built:
        measure(name, cfg, model, data, target, loss_fn, unit, request)


if __name__ == "__main__":
    main()
