"""A CLIP-format byte-level BPE tokenizer over the prompt language, written as the four files of SD2's tokenizer/
folder (vocab.json, merges.txt, special_tokens_map.json, tokenizer_config.json). Ids follow CLIP: the 256 byte
symbols first ("!" is id 0, SD2's pad), then the same with "</w>", then one id per merge, and
<|startoftext|> = 49406, <|endoftext|> = 49407 (the ids in between are unused)."""
from __future__ import annotations

import collections
import html
import json
import re
from itertools import product
from pathlib import Path

from .dataset import FINDING_NAMES, prompt_for, FINDINGS

BOS, EOS = "<|startoftext|>", "<|endoftext|>"
BOS_ID, EOS_ID, PAD_ID = 49406, 49407, 0
MAX_LENGTH = 77
NEGATIVE_PROMPT = "low resolution, low quality, blurry, noise, disfigured"

try:  # CLIP's own pattern needs the third-party `regex` module; Debian's python may lack it
    import regex as _re  # type: ignore

    PATTERN = _re.compile(r"""<\|startoftext\|>|<\|endoftext\|>|'s|'t|'re|'ve|'m|'ll|'d|[\p{L}]+|[\p{N}]|[^\s\p{L}\p{N}]+""", _re.IGNORECASE)
except ImportError:  # the same classes for the prompt language (letters, single digits, other runs)
    PATTERN = re.compile(r"""<\|startoftext\|>|<\|endoftext\|>|'s|'t|'re|'ve|'m|'ll|'d|[^\W\d_]+|\d|(?:[^\s\w]|_)+""", re.IGNORECASE)


SPECIAL_IDS = {BOS: BOS_ID, EOS: EOS_ID, "!": PAD_ID}
SPECIAL_SPLIT = re.compile("(" + "|".join(re.escape(t) for t in SPECIAL_IDS) + ")")


def bytes_to_unicode() -> dict[int, str]:
    """CLIP/GPT-2's reversible byte -> printable character table, in CLIP's order."""
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return dict(zip(bs, [chr(c) for c in cs]))


BYTE_ENCODER = bytes_to_unicode()


def clean(text: str) -> str:
    return re.sub(r"\s+", " ", html.unescape(html.unescape(text))).strip().lower()


def words(text: str) -> list[str]:
    return ["".join(BYTE_ENCODER[b] for b in tok.encode("utf-8")) for tok in PATTERN.findall(clean(text))]


def corpus() -> list[str]:
    """Every prompt the pipeline and trainer produce: each subset of findings, the empty prompt's words, the
    negative prompt, and the attribute words the fairness prompts use."""
    prompts = []
    for mask in product([0, 1], repeat=len(FINDINGS)):
        prompts.append(prompt_for([f for f, on in zip(FINDINGS, mask) if on]))
    prompts += [NEGATIVE_PROMPT, "a chest x-ray of a male patient", "a chest x-ray of a female patient",
                "a chest x-ray of a patient younger than 60", "a chest x-ray of a patient aged 60 or older",
                "frontal chest radiograph, pa view, ap view"] + [n.lower() for n in FINDING_NAMES]
    return prompts


def train_merges(texts: list[str], max_merges: int = 400) -> list[tuple[str, str]]:
    counts = collections.Counter(w for t in texts for w in words(t))
    vocab = {tuple(w[:-1]) + (w[-1] + "</w>",): c for w, c in counts.items()}
    merges: list[tuple[str, str]] = []
    while len(merges) < max_merges:
        pairs: collections.Counter = collections.Counter()
        for symbols, c in vocab.items():
            for a, b in zip(symbols, symbols[1:]):
                pairs[(a, b)] += c
        if not pairs:
            break
        best = max(pairs.items(), key=lambda kv: (kv[1], kv[0]))[0]
        merges.append(best)
        new_vocab = {}
        for symbols, c in vocab.items():
            out, i = [], 0
            while i < len(symbols):
                if i + 1 < len(symbols) and (symbols[i], symbols[i + 1]) == best:
                    out.append(symbols[i] + symbols[i + 1]); i += 2
                else:
                    out.append(symbols[i]); i += 1
            new_vocab[tuple(out)] = c
        vocab = new_vocab
    return merges


class Tokenizer:
    def __init__(self, vocab: dict[str, int], merges: list[tuple[str, str]]):
        self.vocab = vocab
        self.ranks = {m: i for i, m in enumerate(merges)}
        self.cache: dict[str, list[str]] = {}

    @classmethod
    def build(cls) -> "Tokenizer":
        merges = train_merges(corpus())
        base = list(BYTE_ENCODER.values())
        tokens = base + [b + "</w>" for b in base] + ["".join(m) for m in merges]
        vocab: dict[str, int] = {}
        for t in tokens:
            vocab.setdefault(t, len(vocab))
        vocab[BOS] = BOS_ID
        vocab[EOS] = EOS_ID
        return cls(vocab, merges)

    @classmethod
    def load(cls, folder: Path) -> "Tokenizer":
        vocab = json.loads((folder / "vocab.json").read_text())
        lines = (folder / "merges.txt").read_text().strip().split("\n")[1:]
        return cls(vocab, [tuple(l.split()) for l in lines if l])  # type: ignore[misc]

    @property
    def dense_size(self) -> int:
        """Ids below this are ordinary tokens; the text encoder maps 49406/49407 onto two extra rows."""
        return max(i for t, i in self.vocab.items() if t not in (BOS, EOS)) + 1

    def bpe(self, word: str) -> list[str]:
        if word in self.cache:
            return self.cache[word]
        symbols = list(word[:-1]) + [word[-1] + "</w>"]
        while len(symbols) > 1:
            pairs = [(self.ranks.get((a, b), 1 << 30), k) for k, (a, b) in enumerate(zip(symbols, symbols[1:]))]
            rank, k = min(pairs)
            if rank == 1 << 30:
                break
            a, b = symbols[k], symbols[k + 1]
            out, i = [], 0
            while i < len(symbols):
                if i + 1 < len(symbols) and symbols[i] == a and symbols[i + 1] == b:
                    out.append(a + b); i += 2
                else:
                    out.append(symbols[i]); i += 1
            symbols = out
        self.cache[word] = symbols
        return symbols

    def encode(self, text: str, max_length: int = MAX_LENGTH) -> list[int]:
        """As CLIPTokenizer(padding="max_length", truncation=True) with SD2's pad "!" (id 0). Like transformers, the
        special tokens (SD2's pad "!" among them) are split out of the text first and map straight to their ids."""
        ids: list[int] = []
        for piece in SPECIAL_SPLIT.split(text):
            if piece in SPECIAL_IDS:
                ids.append(SPECIAL_IDS[piece])
            elif piece:
                ids += [self.vocab[s] for w in words(piece) for s in self.bpe(w)]
        ids = [BOS_ID] + ids[: max_length - 2] + [EOS_ID]
        return ids + [PAD_ID] * (max_length - len(ids))

    def save(self, folder: Path) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "vocab.json").write_text(json.dumps(self.vocab, ensure_ascii=False))
        merges = [f"{a} {b}" for (a, b), _ in sorted(self.ranks.items(), key=lambda kv: kv[1])]
        (folder / "merges.txt").write_text("#version: 0.2\n" + "\n".join(merges) + "\n")
        (folder / "special_tokens_map.json").write_text(json.dumps(
            {"bos_token": BOS, "eos_token": EOS, "pad_token": "!", "unk_token": EOS}, indent=2) + "\n")
        token = lambda c: {"__type": "AddedToken", "content": c, "lstrip": False, "normalized": True, "rstrip": False, "single_word": False}
        (folder / "tokenizer_config.json").write_text(json.dumps({
            "add_prefix_space": False, "bos_token": token(BOS), "do_lower_case": True, "eos_token": token(EOS),
            "errors": "replace", "model_max_length": MAX_LENGTH, "pad_token": token("!"),
            "tokenizer_class": "CLIPTokenizer", "unk_token": token(EOS)}, indent=2) + "\n")
