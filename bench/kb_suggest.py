"""Latency of knowledge-base suggestions and answers on a 5,000-entry knowledge base.

Builds a knowledge base from the demo entries plus synthetic product FAQs, then times
a bounded number of ``Suggester.suggest()`` calls (partial inputs as visitors type
them: Chinese prefixes, pinyin, English word prefixes) and ``KnowledgeBase.answer()``
calls (whole questions, chatty and terse), and prints p50/p99/max per operation.

    python bench/kb_suggest.py [--entries 5000] [--suggest-calls 5000]
                               [--answer-calls 1000] [--seed 7] [--json PATH]
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from chatd.bot import DATA_DIR
from chatd.bot.kb import FaqEntry, load_entries
from chatd.bot.search import KnowledgeBase
from chatd.bot.suggest import Suggester

DEMO = DATA_DIR / "kb_demo.json"

ZH_PRODUCTS = (
    "手机 耳机 笔记本电脑 平板 智能手表 充电宝 冰箱 洗衣机 空调 电视 微波炉 电饭煲 扫地机器人 咖啡机 吹风机 "
    "羽绒服 运动鞋 连衣裙 牛仔裤 衬衫 背包 行李箱 口红 面霜 防晒霜 洗发水 奶粉 纸尿裤 猫粮 狗粮 自行车 "
    "儿童座椅 床垫 沙发 台灯 茶叶 坚果 大米 食用油 保温杯 炒锅 剃须刀 电动牙刷 游戏机 相机 打印机 路由器"
).split()
ZH_ASPECTS = (
    "保修 安装 尺码 颜色 材质 电池 说明书 配件 赠品 发货地 保质期 真伪 清洗 充电 续航 噪音 功率 重量 包装 "
    "质检报告 以旧换新 延保 售后网点 使用方法"
).split()
ZH_TEMPLATES = ("{p}的{a}怎么查看？", "{p}的{a}有问题怎么办？", "{p}支持{a}服务吗？", "{p}{a}是多少？")
EN_PRODUCTS = (
    "phone headphones laptop tablet smartwatch fridge washer television microwave vacuum jacket sneakers dress "
    "jeans backpack suitcase lipstick shampoo stroller mattress sofa lamp kettle camera printer router"
).split()
EN_ASPECTS = "warranty installation size colour material battery manual accessories charger cleaning".split()
EN_TEMPLATES = ("How do I check the {a} of my {p}?", "What is the {a} policy for the {p}?", "Is {a} included with {p}?")

CHATTY = ("你好，", "亲，", "请问", "在吗？", "急！", "hi, ", "hello ", "")
ANSWER_QUERIES = (
    "退款多久到账", "退宽多久到账", "发飘怎么开", "物流三天没更新了怎么回事", "价保", "发票", "refund 多久到账",
    "where is my package", "how do i cancle my order", "帮我退款到别人的卡", "refund to someone else's card",
    "手机保修怎么查看", "my laptop battery warranty", "羽绒服尺码有问题怎么办", "运费险怎么理赔",
)


def synthetic_entries(count: int, rng: random.Random) -> list[FaqEntry]:
    """``count`` distinct product FAQs, about nine in ten Chinese."""
    combos = [("zh-CN", p, a, t) for p in ZH_PRODUCTS for a in ZH_ASPECTS for t in ZH_TEMPLATES]
    combos += [("en", p, a, t) for p in EN_PRODUCTS for a in EN_ASPECTS for t in EN_TEMPLATES]
    rng.shuffle(combos)
    entries = []
    for number, (locale, product, aspect, template) in enumerate(combos[:count], start=1):
        question = template.format(p=product, a=aspect)
        if locale == "zh-CN":
            variants = (f"{product}{aspect}", f"想问下{product}的{aspect}")
            answer = f"关于{product}的{aspect}：请在商品详情页查看「{aspect}」说明，或联系人工客服。"
        else:
            variants = (f"{product} {aspect}", f"question about {aspect} for {product}")
            answer = f"See the {aspect} section on the {product} product page, or ask an agent."
        entries.append(
            FaqEntry(
                id=f"syn-{number:05d}",
                question=question,
                answer=answer,
                category="products",
                variants=variants,
                keywords=(product, aspect),
                locale=locale,
            )
        )
    return entries


def partial_inputs(entries: Sequence[FaqEntry], count: int, rng: random.Random) -> list[str]:
    """What visitors have typed so far: prefixes of real questions, pinyin, word prefixes."""
    from pypinyin import lazy_pinyin

    inputs = []
    while len(inputs) < count:
        entry = rng.choice(entries)
        phrase = rng.choice(entry.phrasings)
        kind = rng.random()
        if entry.locale == "zh-CN" and kind < 0.6:
            inputs.append(phrase[: rng.randint(1, min(6, len(phrase)))])
        elif entry.locale == "zh-CN" and kind < 0.8:
            pinyin = "".join(lazy_pinyin(phrase[:3]))
            inputs.append(pinyin[: rng.randint(2, len(pinyin))])
        else:
            words = phrase.split()
            keep = words[: rng.randint(1, max(1, min(4, len(words))))]
            keep[-1] = keep[-1][: rng.randint(1, len(keep[-1]))]
            inputs.append(" ".join(keep))
    return inputs


def timed(call: Callable[[str], object], inputs: Sequence[str]) -> list[float]:
    """Wall-clock seconds of each call."""
    samples = []
    for text in inputs:
        start = time.perf_counter()
        call(text)
        samples.append(time.perf_counter() - start)
    return samples


def summarise(samples: Sequence[float]) -> dict[str, float]:
    """p50/p99/max in milliseconds (HdrHistogram when installed, else exact)."""
    try:
        from hdrh.histogram import HdrHistogram
    except ImportError:
        ordered = sorted(samples)

        def pick(q: float) -> float:
            return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000

        return {"calls": len(samples), "p50_ms": pick(0.50), "p99_ms": pick(0.99), "max_ms": ordered[-1] * 1000}
    histogram = HdrHistogram(1, 60_000_000, 3)  # microseconds, up to a minute
    for value in samples:
        histogram.record_value(max(1, round(value * 1e6)))
    return {
        "calls": len(samples),
        "p50_ms": histogram.get_value_at_percentile(50) / 1000,
        "p99_ms": histogram.get_value_at_percentile(99) / 1000,
        "max_ms": histogram.get_max_value() / 1000,
    }


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--entries", type=int, default=5000)
    parser.add_argument("--suggest-calls", type=int, default=5000)
    parser.add_argument("--answer-calls", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--json", metavar="PATH", help="also write the results as JSON")
    args = parser.parse_args(argv)

    rng = random.Random(args.seed)
    demo = load_entries(DEMO)
    entries = demo + synthetic_entries(max(0, args.entries - len(demo)), rng)
    start = time.perf_counter()
    kb = KnowledgeBase(entries)
    kb.search("热身")  # first query loads the part-of-speech table
    built_kb = time.perf_counter() - start
    start = time.perf_counter()
    suggester = Suggester(entries)
    built_suggester = time.perf_counter() - start

    typed = partial_inputs(entries, args.suggest_calls, rng)
    asked = [rng.choice(CHATTY) + rng.choice(ANSWER_QUERIES) for _ in range(args.answer_calls // 2)]
    asked += [rng.choice(e.phrasings) for e in rng.choices(entries, k=args.answer_calls - len(asked))]
    results = {
        "entries": len(entries),
        "build_seconds": {"knowledge_base": round(built_kb, 3), "suggester": round(built_suggester, 3)},
        "suggest": summarise(timed(suggester.suggest, typed)),
        "answer": summarise(timed(kb.answer, asked)),
    }
    print(f"knowledge base: {len(entries)} entries ({len(demo)} demo + {len(entries) - len(demo)} synthetic)")
    print(f"build: search index {built_kb:.2f} s, suggester {built_suggester:.2f} s")
    for name in ("suggest", "answer"):
        r = results[name]
        print(
            f"{name:<8} {r['calls']:>6} calls  "
            f"p50 {r['p50_ms']:.3f} ms  p99 {r['p99_ms']:.3f} ms  max {r['max_ms']:.3f} ms"
        )
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
