"""Policy engine benchmark: prints figures, asserts nothing. Single core.

    .venv/bin/python bench/bench_engine.py

Targets: four reference policies < 20 µs per message; 1,000 mixed policies < 2 ms.
"""

from __future__ import annotations

import random
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from policies.engine import (
    AddHeader,
    AddTag,
    ConditionSpec,
    MessageContext,
    PolicySpec,
    Route,
    compile_ruleset,
    context_from_bytes,
    evaluate,
    reference_policies,
)

DATA = Path(__file__).resolve().parent.parent / "tests" / "data"


def per_call_ns(fn: Callable[[], object], *, iterations: int, repeats: int = 7) -> float:
    """Best mean over ``repeats`` runs of ``iterations`` calls, in ns per call."""
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter_ns()
        for _ in range(iterations):
            fn()
        best = min(best, (time.perf_counter_ns() - start) / iterations)
    return best


def typical_message() -> bytes:
    """About 2 KB: a few Received lines, the usual headers, a text body."""
    hops = b"".join(
        b"Received: from relay%d.yourdomain.com (relay%d.yourdomain.com [10.0.0.%d])\r\n"
        b"\tby mailgate.yourdomain.com with ESMTPS id 4F2A1B3C%d;\r\n"
        b"\tTue, 02 Dec 2025 09:14:07 +0000\r\n" % (i, i, i, i)
        for i in range(4)
    )
    raw = hops + (DATA / "engine_outbound_lan.eml").read_bytes()
    body = b"Lorem ipsum dolor sit amet, consectetur adipiscing elit.\r\n" * 14
    return raw + body


def context(raw: bytes, client_ip: str) -> MessageContext:
    return context_from_bytes(
        raw,
        client_ip=client_ip,
        envelope_sender="alice@yourdomain.com",
        recipients=["bob@partner.com", "carol@partner.com"],
    )


def random_condition(rng: random.Random, join: str) -> ConditionSpec:
    word = f"w{rng.randrange(10_000)}"
    kind = rng.choice(
        [
            "sender_ip",
            "sender_address",
            "recipient_address",
            "header",
            "is_dsn",
            "tags_any",
            "tags_none",
            "subject",
            "size_over",
            "attachment",
        ]
    )
    params: dict[str, object] = {
        "sender_ip": lambda: {"values": [f"10.{rng.randrange(256)}.0.0/16", "192.0.2.7"]},
        "sender_address": lambda: {"values": [f"{word}*@yourdomain.com", f"*@{word}.example"]},
        "recipient_address": lambda: {"values": [f"@{word}.example", f"{word}@partner.com"]},
        "header": lambda: {"values": [{"name": f"X-{word}"}, {"name": "X-Mailer", "value": word}]},
        "is_dsn": lambda: {},
        "tags_any": lambda: {"values": [word, "Secure Collaboration: PURL"]},
        "tags_none": lambda: {"values": ["Outbound"]},
        "subject": lambda: {"values": [f"*{word}*", "[SECURE]*"]},
        "size_over": lambda: {"bytes": rng.randrange(1_000, 50_000_000)},
        "attachment": lambda: {"values": [f"*.{word}", "application/x-msdownload"]},
    }[kind]()  # type: ignore[operator]
    return ConditionSpec(kind, params, negate=rng.random() < 0.1, join=join)


def generated_policies(count: int, seed: int = 7) -> list[PolicySpec]:
    """Mixed policies, all with "continue processing", so every one of them is evaluated."""
    rng = random.Random(seed)
    specs = []
    for pid in range(1, count + 1):
        n_if = rng.randint(1, 4)
        if_ = [
            random_condition(rng, "or" if i and rng.random() < 0.3 else "and") for i in range(n_if)
        ]
        except_ = [random_condition(rng, "and") for _ in range(rng.randint(0, 2))]
        action = rng.choice(
            [AddTag(f"tag{pid}"), Route(f"route{pid % 7}"), AddHeader("X-Policy", str(pid))]
        )
        specs.append(
            PolicySpec(
                pid,
                f"generated {pid}",
                tuple(if_),
                tuple(except_),
                (action,),
                continue_processing=True,
            )
        )
    return specs


def report(label: str, ns: float, target_us: float | None = None) -> None:
    target = f"   (target < {target_us:g} µs)" if target_us else ""
    print(f"{label:<58} {ns / 1000:10.2f} µs{target}")


def main() -> None:
    raw = typical_message()
    print(f"Python {sys.version.split()[0]}, typical message {len(raw)} bytes\n")
    report(
        "context_from_bytes, typical message",
        per_call_ns(lambda: context(raw, "127.0.0.10"), iterations=2_000),
    )
    with_att = (DATA / "engine_encoded.eml").read_bytes()
    report(
        f"context_from_bytes, multipart with attachments ({len(with_att)} B)",
        per_call_ns(lambda: context(with_att, "127.0.0.10"), iterations=2_000),
    )

    for mode in ("A", "B"):
        ruleset = compile_ruleset(reference_policies(mode))
        for label, ip in (("LAN message", "127.0.0.10"), ("looped back", "127.0.0.1")):
            ctx = context(raw, ip)
            ns = per_call_ns(lambda r=ruleset, c=ctx: evaluate(r, c), iterations=20_000)
            report(
                f"evaluate, reference setup {mode} ({len(ruleset.policies)} policies), {label}",
                ns,
                20,
            )

    specs = generated_policies(1_000)
    start = time.perf_counter_ns()
    ruleset = compile_ruleset(specs)
    print(
        f"\ncompile_ruleset, 1,000 generated policies: "
        f"{(time.perf_counter_ns() - start) / 1e6:.1f} ms (once per configuration change)"
    )
    ctx = context(raw, "127.0.0.10")
    verdict = evaluate(ruleset, ctx)
    fired = sum(t.fired for t in verdict.trace)
    ns = per_call_ns(lambda: evaluate(ruleset, ctx), iterations=200)
    report(f"evaluate, 1,000 mixed policies ({fired} fire)", ns, 2000)
    both = per_call_ns(lambda: evaluate(ruleset, context(raw, "127.0.0.10")), iterations=200)
    report("context_from_bytes + evaluate, 1,000 mixed policies", both)


if __name__ == "__main__":
    main()
