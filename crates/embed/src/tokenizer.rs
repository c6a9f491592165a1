//! BERT's uncased `WordPiece` tokenizer, as Hugging Face's `tokenizers` runs it for
//! all-MiniLM-L6-v2 (`BertNormalizer` with lowercase, `BertPreTokenizer`, `WordPiece`, the
//! `[CLS] $A [SEP]` template, truncation to a fixed number of pieces).

use std::collections::HashMap;
use std::path::Path;

use unicode_categories::UnicodeCategories;
use unicode_normalization::UnicodeNormalization;

use crate::EmbedError;

/// Words longer than this many characters become one `[UNK]` (Hugging Face's
/// `max_input_chars_per_word`): longest-match on them would be quadratic for no gain.
const MAX_CHARS_PER_WORD: usize = 100;

/// A `WordPiece` vocabulary and the special tokens the model needs.
#[derive(Debug, Clone)]
pub struct WordPiece {
    vocab: HashMap<String, u32>,
    unk: u32,
    cls: u32,
    sep: u32,
    max_len: usize,
}

impl WordPiece {
    /// Reads `vocab.txt` (one piece a line, the id is the line number). `max_len` counts the
    /// `[CLS]` and `[SEP]` pieces too; Chroma's default function uses 256.
    pub fn from_vocab_file(path: &Path, max_len: usize) -> Result<Self, EmbedError> {
        let text = std::fs::read_to_string(path).map_err(|e| EmbedError::io(path, e))?;
        Self::from_vocab(&text, max_len).map_err(|message| EmbedError::Format { file: path.to_path_buf(), message })
    }

    /// Builds the tokenizer from the text of a `vocab.txt`.
    pub fn from_vocab(text: &str, max_len: usize) -> Result<Self, String> {
        if max_len < 2 {
            return Err(format!("max length {max_len} leaves no room for [CLS] and [SEP]"));
        }
        let mut vocab = HashMap::new();
        for (id, line) in text.lines().enumerate() {
            let piece = line.strip_suffix('\r').unwrap_or(line);
            let id = u32::try_from(id).map_err(|_| "vocabulary larger than 2^32 pieces".to_string())?;
            // The first occurrence wins, as in Hugging Face's vocab reader.
            vocab.entry(piece.to_string()).or_insert(id);
        }
        let special = |name: &str| vocab.get(name).copied().ok_or_else(|| format!("vocabulary has no {name} piece"));
        Ok(Self { unk: special("[UNK]")?, cls: special("[CLS]")?, sep: special("[SEP]")?, vocab, max_len })
    }

    /// Number of pieces in the vocabulary.
    pub fn vocab_len(&self) -> usize {
        self.vocab.len()
    }

    /// The ids of `text`: `[CLS]`, at most `max_len - 2` word pieces, `[SEP]`; appended to `out`
    /// (cleared first) so a batch reuses one buffer.
    pub fn encode_into(&self, text: &str, out: &mut Vec<u32>) {
        out.clear();
        out.push(self.cls);
        let limit = self.max_len - 1;
        let normalized = normalize(text);
        for token in pre_tokenize(&normalized) {
            let before = out.len();
            if !self.word_pieces(token, out) {
                out.truncate(before);
                out.push(self.unk);
            }
            if out.len() >= limit {
                out.truncate(limit);
                break;
            }
        }
        out.push(self.sep);
    }

    /// The ids of `text` (see [`WordPiece::encode_into`]).
    pub fn encode(&self, text: &str) -> Vec<u32> {
        let mut out = Vec::new();
        self.encode_into(text, &mut out);
        out
    }

    /// Greedy longest-match-first split of one word; `false` if some part matches no piece
    /// (the whole word is then `[UNK]`).
    fn word_pieces(&self, word: &str, out: &mut Vec<u32>) -> bool {
        if word.chars().count() > MAX_CHARS_PER_WORD {
            return false;
        }
        let mut start = 0;
        let mut candidate = String::with_capacity(word.len() + 2);
        while start < word.len() {
            let mut end = word.len();
            let mut found = None;
            while start < end {
                candidate.clear();
                if start > 0 {
                    candidate.push_str("##");
                }
                candidate.push_str(&word[start..end]);
                if let Some(&id) = self.vocab.get(&candidate) {
                    found = Some(id);
                    break;
                }
                // Step back one whole character (never inside a UTF-8 sequence).
                end = word[..end].char_indices().next_back().map_or(start, |(i, _)| i);
            }
            match found {
                Some(id) => out.push(id),
                None => return false,
            }
            start = end;
        }
        true
    }
}

/// Characters BERT treats as whitespace: tab, newline, carriage return and Unicode's
/// `White_Space` set.
fn is_whitespace(c: char) -> bool {
    matches!(c, '\t' | '\n' | '\r') || c.is_whitespace()
}

/// Characters the normalizer drops: the "other" categories (Cc, Cf, Cn, Co, Cs) but tab,
/// newline and carriage return, which count as whitespace.
fn is_control(c: char) -> bool {
    !matches!(c, '\t' | '\n' | '\r') && c.is_other()
}

/// CJK ideographs get spaces around them, so each is a word of its own (BERT's ranges).
fn is_chinese_char(c: char) -> bool {
    matches!(c as u32,
        0x4E00..=0x9FFF
        | 0x3400..=0x4DBF
        | 0x2_0000..=0x2_A6DF
        | 0x2_A700..=0x2_B73F
        | 0x2_B740..=0x2_B81F
        | 0x2_B820..=0x2_CEAF
        | 0xF900..=0xFAFF
        | 0x2_F800..=0x2_FA1F)
}

/// Punctuation splits words and is a word of its own: ASCII punctuation (which includes
/// symbols such as `$`, `^`, `` ` ``) and Unicode's P* categories.
fn is_punctuation(c: char) -> bool {
    c.is_ascii_punctuation() || c.is_punctuation()
}

/// `BertNormalizer`: drop NUL, U+FFFD and control characters, whitespace to a space, spaces
/// around CJK ideographs, NFD with non-spacing marks removed (accents), lowercase.
fn normalize(text: &str) -> String {
    let mut cleaned = String::with_capacity(text.len());
    for c in text.chars() {
        if c == '\0' || c == '\u{fffd}' || is_control(c) {
            continue;
        }
        if is_whitespace(c) {
            cleaned.push(' ');
        } else if is_chinese_char(c) {
            cleaned.push(' ');
            cleaned.push(c);
            cleaned.push(' ');
        } else {
            cleaned.push(c);
        }
    }
    let mut out = String::with_capacity(cleaned.len());
    for c in cleaned.nfd().filter(|c| !c.is_mark_nonspacing()) {
        out.extend(c.to_lowercase());
    }
    out
}

/// `BertPreTokenizer`: split on whitespace, and every punctuation character is a word.
/// An iterator over slices of `text`, so tokenizing allocates nothing per word.
fn pre_tokenize(text: &str) -> PreTokens<'_> {
    PreTokens { rest: text }
}

struct PreTokens<'a> {
    rest: &'a str,
}

impl<'a> Iterator for PreTokens<'a> {
    type Item = &'a str;

    fn next(&mut self) -> Option<&'a str> {
        let text = self.rest.trim_start_matches(is_whitespace);
        let mut chars = text.char_indices();
        let (_, first) = chars.next()?;
        let end = if is_punctuation(first) {
            first.len_utf8()
        } else {
            chars.find(|&(_, c)| is_whitespace(c) || is_punctuation(c)).map_or(text.len(), |(i, _)| i)
        };
        self.rest = &text[end..];
        Some(&text[..end])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tiny() -> WordPiece {
        let vocab = "[PAD]\n[UNK]\n[CLS]\n[SEP]\nhello\nworld\n##s\nun\n##aff\n##able\n,\n!\n北\ncafe\n";
        WordPiece::from_vocab(vocab, 8).unwrap()
    }

    #[test]
    fn splits_words_pieces_and_punctuation() {
        let t = tiny();
        assert_eq!(t.encode("Hello, worlds!"), vec![2, 4, 10, 5, 6, 11, 3]);
        assert_eq!(t.encode("unaffable"), vec![2, 7, 8, 9, 3]);
        assert_eq!(t.encode("unknownword"), vec![2, 1, 3]);
        assert_eq!(t.encode(""), vec![2, 3]);
    }

    #[test]
    fn normalizes_accents_case_cjk_and_controls() {
        let t = tiny();
        assert_eq!(t.encode("CAFÉ"), vec![2, 13, 3]);
        assert_eq!(t.encode("北hello"), vec![2, 12, 4, 3]);
        assert_eq!(t.encode("hel\u{200b}lo\u{0}\u{fffd}"), vec![2, 4, 3]);
        assert_eq!(t.encode("hello\tworld\r\n"), vec![2, 4, 5, 3]);
    }

    #[test]
    fn truncates_to_max_len_including_specials() {
        let t = tiny();
        let ids = t.encode("hello hello hello hello hello hello hello hello");
        assert_eq!(ids.len(), 8);
        assert_eq!((ids[0], ids[7]), (2, 3));
        // A word cut in the middle keeps its first pieces, as Hugging Face's truncation does.
        assert_eq!(t.encode("hello hello hello hello hello unaffable"), vec![2, 4, 4, 4, 4, 4, 7, 3]);
    }

    #[test]
    fn pre_tokenizes_on_whitespace_and_punctuation() {
        let words: Vec<&str> = pre_tokenize("  a,b  c.. d¿e\u{3000}f ").collect();
        assert_eq!(words, ["a", ",", "b", "c", ".", ".", "d", "¿", "e", "f"]);
        assert_eq!(pre_tokenize(" \t ").count(), 0);
    }

    #[test]
    fn rejects_vocab_without_specials() {
        assert!(WordPiece::from_vocab("a\nb\n", 8).unwrap_err().contains("[UNK]"));
        assert!(WordPiece::from_vocab("[UNK]\n[CLS]\n[SEP]\n", 1).is_err());
    }
}
