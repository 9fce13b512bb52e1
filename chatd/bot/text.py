"""Text analysis for Chinese and English: normalisation, segmentation, stemming, pinyin.

The same analysis runs on knowledge-base entries and on what visitors type, so that
both sides produce comparable terms:

- Chinese runs are segmented with jieba (precise mode, no HMM so that unknown
  characters stay single and typo correction can see them) using the product-word
  dictionary ``data/userdict.txt``. jieba is initialised once, lazily, quietly.
- Latin runs are split into words, lower-cased and lightly stemmed (plurals, -ing,
  -ed), so "refunds", "refunded" and "refunding" meet at "refund".
- Stop words (particles, pronouns, greetings, emotion) carry no intent and are dropped.
- :data:`SCOPE_CUES` are words that move a question out of what the knowledge base
  answers (somebody else's account, another shop, a fake invoice); search treats
  them as words the matched entry must address.
"""

from __future__ import annotations

import logging
import re
import threading
import unicodedata
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import jieba
from pypinyin import lazy_pinyin

__all__ = [
    "EN_STOPWORDS",
    "SCOPE_CUES",
    "TIME_WORDS",
    "ZH_STOPWORDS",
    "ZH_SYNONYMS",
    "Token",
    "detect_locale",
    "dictionary_frequency",
    "has_cjk",
    "is_time_or_quantity",
    "normalize",
    "part_of_speech",
    "pinyin_key",
    "segment",
    "segment_for_search",
    "split_runs",
    "stem",
    "tokenize",
]

USERDICT = Path(__file__).with_name("data") / "userdict.txt"

_RUN = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff]+|[a-z0-9]+(?:'[a-z]+)?")
_CJK = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff]")

ZH_STOPWORDS = frozenset(
    """
    的 了 吗 呢 吧 啊 呀 哦 噢 嗯 哈 哈哈 啦 嘛 么 哇 呃 诶 哎 唉 喔 咯 呗 哟 滴
    我 我们 你 你们 您 他 她 它 他们 咱 咱们 自己 人家 俺
    是 在 有 和 与 跟 及 或 就 都 也 还 又 才 再 很 太 挺 好 真 更 最 非常 特别
    这 那 这个 那个 这些 那些 这样 那样 这边 那边 这里 那里 个 些 一 一下 一点 一个
    请问 请 麻烦 谢谢 谢 多谢 感谢 你好 您好 在吗 在不在 有人 有人吗 哈喽 嗨 hi 亲 亲亲
    小姐姐 小哥哥 老师 朋友们 大家
    急 着急 急死 急死了 烦 烦死了 气死 气死了 无语 郁闷 崩溃 服了 坑 唉呀 天哪 天呐 咋回事
    怎么回事 怎么办 到底 究竟 一下子 现在 已经 然后 但是 可是 所以 因为 如果 就是 还是 而且 不过
    能 能够 可以 可不可以 能不能 会 会不会 要 想 想要 需要 得 帮 帮忙 帮我 给 让 把 被 对
    来 去 看 看看 说 觉得 以为 知道 用来 东西 一些 是不是 有没有 还有 里面 上面 时候
    吗 嘛 什么 啥 怎么 怎样 怎么样 如何 咋 为什么 为啥 干嘛 不能 该 操作 弄 搞 办理
    """.split()
)

EN_STOPWORDS = frozenset(
    """
    a an the and or but if so of to in on at by for with from as into about than then
    i me my mine myself we us our you your yours he him his she her it its they them their
    is am are was were be been being do does did doing have has had having will would shall
    should can could may might must ok okay yes no not pls plz please thanks thank thx ty
    hi hello hey dear guys there here this that these those what which who whom how why when
    where just really very too also still already even now yet again ever any some all
    im i'm it's its you're dont don't didnt didn't cant can't wont won't isnt isn't hasnt
    hasn't havent haven't doesnt doesn't wasnt wasn't got get gets getting want wanted need
    needs help anyone someone's let me know tell please kindly hmm um uh ugh wow omg lol
    seriously urgent asap sorry annoying annoyed frustrated angry upset happy sad
    i'd i'll i've we're they're much many like bye goodbye one only up down since until
    go goes going went gone come comes coming came say says said show shows showed
    look looks looked see seen saw think thought give gave make made put take took
    tried try trying work works worked way thing things something anything everything
    """.split()
)

# Colloquial spellings mapped to the form knowledge-base editors write.
ZH_SYNONYMS = {
    "啥时候": "什么时候",
    "啥时": "什么时候",
    "多会儿": "什么时候",
    "咋办": "怎么办",
    "帐号": "账号",
    "到帐": "到账",
}

SCOPE_CUES = frozenset(
    """
    别人 他人 旁人 其他人 别的人 朋友 同事 家人 老公 老婆 爸爸 妈妈 爸 妈 室友 邻居 陌生人 第三方
    假 假的 假发票 伪造 虚开 代开 淘宝 拼多多 亚马逊 招聘 应聘 招人 兼职 股票
    else other's someone somebody friend friend's friends husband wife neighbour
    neighbor neighbour's neighbor's stranger fake forged amazon ebay taobao hiring job jobs
    """.split()
)


# Time and quantity expressions (昨天, 三天, 好几次, a week) say when or how much, not what.
_ZH_QUANTITY = re.compile(r"^[0-9一二三四五六七八九十百几两半多好每]+[天次周个月年号日点件张遍块元分秒]*$")
TIME_WORDS = frozenset(
    """
    昨天 今天 明天 前天 后天 刚才 刚刚 刚 之前 之后 以后 以前 马上 立刻 早上 上午 中午 下午 晚上 半夜
    天 小时 分钟 星期 礼拜 周末 月底 月初 年底 好久 半天 一周 几天 很久
    yesterday today tomorrow tonight week weeks day days hour hours minute minutes month
    months year years morning evening night ago weekend
    """.split()
)


def is_time_or_quantity(word: str) -> bool:
    """True for time and quantity words, which rarely decide what a question is about."""
    return word in TIME_WORDS or bool(_ZH_QUANTITY.match(word)) or word.isdigit()


@dataclass(frozen=True, slots=True)
class Token:
    """One analysed word: ``key`` is the index term, ``text`` what was typed."""

    key: str
    text: str
    lang: str  # "zh" or "en"


def normalize(text: str) -> str:
    """NFKC (full-width to half-width), lower case, typographic apostrophes unified."""
    return unicodedata.normalize("NFKC", text).replace("\u2019", "'").lower()


def has_cjk(text: str) -> bool:
    """True when ``text`` contains a Chinese character."""
    return _CJK.search(text) is not None


def detect_locale(text: str) -> str:
    """'zh-CN' when the text contains any Chinese character, else 'en'."""
    return "zh-CN" if has_cjk(text) else "en"


def split_runs(text: str) -> list[tuple[str, str]]:
    """Split normalised text into ("zh", run) and ("en", word) pieces, dropping the rest."""
    runs = []
    for match in _RUN.finditer(text):
        piece = match.group()
        runs.append(("zh" if _CJK.match(piece) else "en", piece))
    return runs


# Phrases jieba's dictionary glues into one word, hiding a product word inside:
# 开发票 must read 开 + 发票 so that it meets 发票 and 发票怎么开.
_SPLITS = (("开", "发票"),)

_jieba_lock = threading.RLock()  # part_of_speech() holds it while building the tokenizer
_jieba: jieba.Tokenizer | None = None


def _tokenizer() -> jieba.Tokenizer:
    """The shared jieba tokenizer with the product dictionary, built on first use."""
    global _jieba
    if _jieba is None:
        with _jieba_lock:
            if _jieba is None:
                jieba.setLogLevel(logging.WARNING)
                tokenizer = jieba.Tokenizer()
                tokenizer.initialize()
                with USERDICT.open("rb") as words:
                    tokenizer.load_userdict(words)
                for pieces in _SPLITS:
                    tokenizer.suggest_freq(pieces, tune=True)
                _jieba = tokenizer
    return _jieba


@lru_cache(maxsize=65536)
def segment(run: str) -> tuple[str, ...]:
    """Segment a Chinese run into words (precise mode, no new-word guessing)."""
    return tuple(w for w in _tokenizer().cut(run, HMM=False) if w.strip())


@lru_cache(maxsize=65536)
def segment_for_search(word: str) -> tuple[str, ...]:
    """Dictionary sub-words of a long word (物流进度 -> 物流, 进度), excluding the word."""
    if len(word) < 3:
        return ()
    parts = _tokenizer().cut_for_search(word, HMM=False)
    return tuple(dict.fromkeys(p for p in parts if p != word and len(p) >= 2))


_tags: dict[str, str] | None = None


def part_of_speech(word: str) -> str:
    """jieba's part-of-speech tag for a dictionary word ('n' noun, 'v' verb, ...), or ''.

    The tag table is loaded on first use (a fraction of a second); build-time callers warm it.
    """
    global _tags
    if _tags is None:
        with _jieba_lock:
            if _tags is None:
                # Read the tags straight from the dictionary ("word freq tag" lines):
                # importing jieba.posseg would build two taggers, seconds each.
                tokenizer = _tokenizer()
                with tokenizer.get_dict_file() as dictionary:
                    lines = dictionary.read().decode("utf-8").splitlines()
                tags = {}
                for line in lines:
                    parts = line.split(" ")
                    if len(parts) == 3:
                        tags[parts[0]] = parts[2]
                tags.update(tokenizer.user_word_tag_tab)
                _tags = tags
    return _tags.get(word, "")


def dictionary_frequency(word: str) -> int:
    """How often ``word`` occurs in jieba's reference corpus (0 when unknown)."""
    return _tokenizer().FREQ.get(word) or 0


_SUFFIXES_ES = ("sses", "shes", "ches", "xes", "zes")
_VOWELS = frozenset("aeiou")


@lru_cache(maxsize=65536)
def stem(word: str) -> str:
    """A light English stemmer: plurals, -ing, -ed, -ly; final e dropped.

    Deliberately conservative: stems only need to be consistent, and typo tolerance
    catches the rest.
    """
    w = word.removesuffix("'s").replace("'", "")
    if len(w) <= 3 or not w.isalpha():
        return w
    stripped = False
    if w.endswith("ies") and len(w) > 4:
        w = w[:-3] + "y"
    elif w.endswith(_SUFFIXES_ES):
        w = w[:-2]
    elif w.endswith("s") and not w.endswith(("ss", "us", "is")):
        w = w[:-1]
    for suffix in ("ing", "ed", "ly"):
        if w.endswith(suffix) and len(w) - len(suffix) >= 3 and set(w[: -len(suffix)]) & _VOWELS:
            w = w[: -len(suffix)]
            stripped = True
            break
    if stripped and len(w) > 3 and w[-1] == w[-2] and w[-1] not in _VOWELS and w[-1] not in "sz":
        w = w[:-1]  # shipping -> shipp -> ship
    if stripped and w.endswith("i"):
        w = w[:-1] + "y"  # carried -> carri -> carry
    if w.endswith("e") and len(w) > 3:
        w = w[:-1]  # charge/charged/charging -> charg
    return w


@lru_cache(maxsize=131072)
def pinyin_key(word: str) -> str:
    """Toneless pinyin syllables joined by spaces (退款 -> 'tui kuan').

    Words that sound alike (IME homophone typos: 退宽, 发飘) share a key.
    """
    return " ".join(lazy_pinyin(word))


def tokenize(text: str, *, keep_stopwords: bool = False) -> list[Token]:
    """Analyse text into tokens: jieba words for Chinese, stemmed words for English.

    Punctuation is dropped; stop words too unless ``keep_stopwords``.
    """
    tokens: list[Token] = []
    for lang, piece in split_runs(normalize(text)):
        if lang == "zh":
            for word in segment(piece):
                if keep_stopwords or word not in ZH_STOPWORDS:
                    tokens.append(Token(ZH_SYNONYMS.get(word, word), word, "zh"))
        elif keep_stopwords or (piece not in EN_STOPWORDS and not piece.isdigit()):
            tokens.append(Token(stem(piece), piece, "en"))
    return tokens
