"""An independent PyTorch DCGAN in the pytorch/examples recipe, shaped like the project's.

pytorch/examples' dcgan/main.py: BatchNorm generator, LeakyReLU discriminator,
BCE-with-logits (non-saturating) losses, Adam(2e-4, betas (0.5, 0.999)), one
discriminator then one generator update per batch, the losses read back each
step (the example prints them every iteration). The layers follow the
project's `dcgan` at the same side and widths (imagegen.models.base:
Dense -> side x side x 16*widths, a stride-1 5x5 transposed convolution,
stride-2 5x5 transposed convolutions to the image; a discriminator of stride-2
5x5 convolutions with dropout 0.3), so images/s compare the same arithmetic.
Mixed precision is bfloat16 autocast (no gradient scaling: bfloat16 has
float32's range); `torch.compile` compiles both networks.
"""

from __future__ import annotations

import time

import numpy as np


def stages(side: int) -> tuple[int, int]:
    """(start side, stride-2 stages), as imagegen.models.base.upsampling_stages."""
    count, start = 0, side
    while start % 2 == 0 and start // 2 >= 4:
        start //= 2
        count += 1
    return start, count


def build(side: int, channels: int, latent: int, widths: int):
    import torch
    from torch import nn

    start, count = stages(side)
    width = widths * 2**count

    class Generator(nn.Module):
        def __init__(self):
            super().__init__()
            self.dense = nn.Sequential(
                nn.Linear(latent, start * start * width, bias=False),
                nn.BatchNorm1d(start * start * width),
                nn.LeakyReLU(0.3),
            )
            layers = [
                nn.ConvTranspose2d(width, width // 2, 5, 1, 2, bias=False),
                nn.BatchNorm2d(width // 2),
                nn.LeakyReLU(0.3),
            ]
            for stage in range(count - 1):
                inp, out = width // 2 ** (stage + 1), width // 2 ** (stage + 2)
                layers += [
                    nn.ConvTranspose2d(inp, out, 5, 2, 2, output_padding=1, bias=False),
                    nn.BatchNorm2d(out),
                    nn.LeakyReLU(0.3),
                ]
            layers += [
                nn.ConvTranspose2d(
                    width // 2**count, channels, 5, 2, 2, output_padding=1, bias=False
                ),
                nn.Tanh(),
            ]
            self.convs = nn.Sequential(*layers)

        def forward(self, z):
            x = self.dense(z).view(-1, width, start, start)
            return self.convs(x)

    class Discriminator(nn.Module):
        def __init__(self):
            super().__init__()
            layers, inp = [], channels
            for stage in range(count):
                out = widths * 2**stage
                layers += [
                    nn.Conv2d(inp, out, 5, 2, 2),
                    nn.LeakyReLU(0.3),
                    nn.Dropout(0.3),
                ]
                inp = out
            self.convs = nn.Sequential(*layers, nn.Flatten())
            self.head = nn.Linear(inp * (side // 2**count) ** 2, 1)

        def forward(self, x):
            return self.head(self.convs(x))

    return Generator(), Discriminator(), torch


def run(
    images: np.ndarray,
    batch: int,
    steps: int,
    warmup: int,
    widths: int,
    latent: int = 100,
    compile_: bool = True,
    bf16: bool = True,
    seed: int = 0,
) -> dict:
    """Images/s over `steps` steps after `warmup`, on CUDA when there is one."""
    generator, discriminator, torch = build(
        images.shape[1], images.shape[-1], latent, widths
    )
    torch.manual_seed(seed)
    device = "cuda" if torch.cuda.is_available() else "cpu"
    if device == "cuda":
        torch.backends.cudnn.benchmark = True
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
    generator, discriminator = generator.to(device), discriminator.to(device)
    g_opt = torch.optim.Adam(generator.parameters(), 2e-4, betas=(0.5, 0.999))
    d_opt = torch.optim.Adam(discriminator.parameters(), 2e-4, betas=(0.5, 0.999))
    loss_fn = torch.nn.BCEWithLogitsLoss()
    # Same layout as the project's batches: NHWC in memory, NCHW for torch.
    data = torch.from_numpy(images).to(device).permute(0, 3, 1, 2).contiguous()
    n = len(data)
    autocast = torch.autocast(device, dtype=torch.bfloat16, enabled=bf16)

    def d_step(real, noise):
        with autocast:
            fake = generator(noise)
            real_logits = discriminator(real)
            fake_logits = discriminator(fake.detach())
            d_loss = loss_fn(
                real_logits.float(), torch.ones_like(real_logits.float())
            ) + loss_fn(fake_logits.float(), torch.zeros_like(fake_logits.float()))
        d_opt.zero_grad(set_to_none=True)
        d_loss.backward()
        d_opt.step()
        return fake, d_loss

    def g_step(fake):
        with autocast:
            logits = discriminator(fake)
            g_loss = loss_fn(logits.float(), torch.ones_like(logits.float()))
        g_opt.zero_grad(set_to_none=True)
        g_loss.backward()
        g_opt.step()
        return g_loss

    if compile_ and device == "cuda":
        generator = torch.compile(generator)
        discriminator = torch.compile(discriminator)
    generator.train()
    discriminator.train()
    order = torch.randperm(n, device=device)
    marks = []
    for step in range(warmup + steps):
        start = (step * batch) % (n - n % batch)
        real = data[order[start : start + batch]]
        noise = torch.randn(batch, latent, device=device)
        fake, d_loss = d_step(real, noise)
        g_loss = g_step(fake)
        # The example prints both losses every iteration: a host sync per step.
        losses = (d_loss.item(), g_loss.item())
        marks.append(time.perf_counter())
    measured = marks[-1] - marks[warmup - 1]
    return {
        "images_per_second": round(steps * batch / measured, 1),
        "batch": batch,
        "steps": steps,
        "device": device,
        "bf16": bf16,
        "compiled": bool(compile_ and device == "cuda"),
        "final_losses": [round(float(v), 4) for v in losses],
        "torch": torch.__version__,
    }
