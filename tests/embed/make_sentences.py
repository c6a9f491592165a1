#!/usr/bin/env python3
"""Writes sentences.json, the fixture of crates/embed/tests/reference.rs (run once; committed).

usage: python3 tests/embed/make_sentences.py

300 WordNet 3.0 glosses and examples (Debian wordnet-base; every 300th, so the sample spans the
four parts of speech), then texts the tokenizer must get right: long ones (> 256 word pieces, cut
as Chroma cuts them), empty and blank strings, accents, non-Latin scripts, CJK, emoji, control
characters, runs of punctuation, a word over 100 characters.
"""
import json
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "bench"))
from make_dataset import wordnet_sentences  # noqa: E402

words = wordnet_sentences()
sample = words[::300][:300]
long_text = " ".join(words[1000:1060])  # ~60 glosses: well over 256 word pieces
special = [
    "",
    " ",
    "\t\n\r  \n",
    long_text,
    "Die Straße war naß; wir gingen über die Brücke zum Café.",
    "Él comió paella en la playa; ¿verdad? ¡Sí, señor!",
    "Ça coûte très cher, déjà à Noël — naïve façade.",
    "Ünïcödé àccénts ÅÆØ øåæ ßẞ İstanbul ıi",
    "Москва — столица России, а Київ — столиця України.",
    "Η γρήγορη καφέ αλεπού πηδάει πάνω από τον τεμπέλη σκύλο.",
    "الكتاب على الطاولة، والقلم في الحقيبة.",
    "हिन्दी भारत की एक राजभाषा है।",
    "我们今天去公园散步，天气非常好。",
    "東京は日本の首都です。ひらがなとカタカナも使います。",
    "서울은 대한민국의 수도입니다.",
    "Emoji: 😀🚀 🥰🫠 👩‍👩‍👧 ✔️ ★",
    "Control\u0000chars\u0001in\u0007the\u001bmiddle\u200bzero\u200dwidth\ufeffbom\ufffdreplacement",
    "Punctuation!!! ... ??? --- (brackets) [square] {curly} <angle> \"quotes\" 'single' `tick` ~tilde ^caret",
    "Prices: $3.50, €12, £7; 50% off — 2024-01-31 at 10:30am, #1 @home & co.",
    "email me at someone@example.com or visit https://www.example.org/path?q=1&r=two#frag",
    "a" * 150 + " short words after a very long one",
    "supercalifragilisticexpialidocious antidisestablishmentarianism pneumonoultramicroscopicsilicovolcanoconiosis",
    "ＦＵＬＬＷＩＤＴＨ ｌｅｔｔｅｒｓ and ﬁ ligatures ① ² ½",
    "Mixed 中文 and English, with 日本語 and 한국어 inside one sentence.",
    "Tabs\tand\nnewlines\r\nand\u00a0non-breaking\u2003em\u3000ideographic spaces",
    "Combining marks: e\u0301 a\u0308 n\u0303 o\u0302 (decomposed) vs é ä ñ ô (composed)",
    "Z̤̈a̸l̵g̷o text with s̶t̶r̶i̶k̶e̶ and ̲u̲n̲d̲e̲r̲l̲i̲n̲e̲",
    "'Twas brillig, and the slithy toves did gyre and gimble in the wabe.",
    " ".join(["token"] * 300),
    "。，、；：？！「」『』（）【】《》",
    "ﬀ ﬃ Ⅻ ㎞ ℃ ™ © ® ‰ † ‡ • … ‹ › « » „ “ ” ‘ ’",
    "x" * 99 + " " + "y" * 100 + " " + "z" * 101,
]
texts = sample + special
with open(os.path.join(os.path.dirname(__file__), "sentences.json"), "w", encoding="utf-8") as f:
    json.dump(texts, f, ensure_ascii=False, indent=0)
    f.write("\n")
print(f"{len(texts)} texts")
