//! A minimal, safe pickle reader (protocols 2-5) for the small metadata pickles Chroma writes:
//! 0.3.x `index/*.pkl` (dicts of ints, uuid.UUID objects) and >= 0.4 `index_metadata.pickle`
//! (a `PersistentData` object, or a dict when written by 1.x). It builds values only: classes
//! are recorded by name, nothing is imported or executed.

use std::fmt;

#[derive(Debug, Clone, PartialEq)]
/// A value decoded from a pickle.
pub enum PickleValue {
    /// `None`.
    None,
    /// A bool.
    Bool(bool),
    /// An int that fits in 128 bits.
    Int(i128),
    /// Integer wider than 128 bits, little-endian two's complement bytes.
    BigInt(Vec<u8>),
    /// A float.
    Float(f64),
    /// A str.
    Str(String),
    /// bytes.
    Bytes(Vec<u8>),
    /// A list.
    List(Vec<PickleValue>),
    /// A tuple.
    Tuple(Vec<PickleValue>),
    /// A dict (in pickle order).
    Dict(Vec<(PickleValue, PickleValue)>),
    /// A set or frozenset.
    Set(Vec<PickleValue>),
    /// `module.name` class reference.
    Global(String, String),
    /// An object built by NEWOBJ/REDUCE (+ BUILD state).
    Object {
        /// The class's module.
        module: String,
        /// The class's name.
        name: String,
        /// Constructor arguments.
        args: Vec<PickleValue>,
        /// State set by BUILD, if any.
        state: Option<Box<PickleValue>>,
    },
}

#[derive(Debug, Clone, PartialEq)]
/// Why a pickle could not be read.
pub struct PickleError(pub String);

impl fmt::Display for PickleError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "pickle: {}", self.0)
    }
}
impl std::error::Error for PickleError {}

impl PickleValue {
    /// Looks up a string key in a dict, or in an object's state dict.
    pub fn dict_get(&self, key: &str) -> Option<&PickleValue> {
        match self {
            PickleValue::Dict(items) => items.iter().find_map(|(k, v)| match k {
                PickleValue::Str(s) if s == key => Some(v),
                _ => None,
            }),
            PickleValue::Object { state: Some(s), .. } => s.dict_get(key),
            _ => None,
        }
    }
    /// An int (or bool) value.
    pub fn as_i128(&self) -> Option<i128> {
        match self {
            PickleValue::Int(i) => Some(*i),
            PickleValue::Bool(b) => Some(i128::from(*b)),
            _ => None,
        }
    }
    /// A str value.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            PickleValue::Str(s) => Some(s),
            _ => None,
        }
    }
    /// A dict's items.
    pub fn as_dict(&self) -> Option<&[(PickleValue, PickleValue)]> {
        match self {
            PickleValue::Dict(d) => Some(d),
            _ => None,
        }
    }
    /// A pickled `uuid.UUID` as lowercase dashed text.
    pub fn as_uuid(&self) -> Option<String> {
        match self {
            PickleValue::Object { module, name, .. } if module == "uuid" && name == "UUID" => {
                let i = self.dict_get("int")?.as_i128()?;
                let u = i as u128;
                let h = format!("{u:032x}");
                Some(format!("{}-{}-{}-{}-{}", &h[0..8], &h[8..12], &h[12..16], &h[16..20], &h[20..32]))
            }
            _ => None,
        }
    }
}

const MAX_LEN: usize = 1 << 31;

/// A little-endian two's complement int (LONG1/LONG4).
fn le_int(b: &[u8]) -> PickleValue {
    if b.is_empty() {
        return PickleValue::Int(0);
    }
    if b.len() > 16 {
        return PickleValue::BigInt(b.to_vec());
    }
    let neg = b[b.len() - 1] & 0x80 != 0;
    let mut buf = if neg { [0xffu8; 16] } else { [0u8; 16] };
    buf[..b.len()].copy_from_slice(b);
    PickleValue::Int(i128::from_le_bytes(buf))
}

fn utf8(b: &[u8], at: usize) -> Result<String, PickleError> {
    String::from_utf8(b.to_vec()).map_err(|_| PickleError(format!("invalid UTF-8 at byte {at}")))
}

/// Parses one pickle.
// One dispatch over the opcodes: splitting it would scatter the stack machine's state.
#[allow(clippy::too_many_lines)]
pub fn parse(data: &[u8]) -> Result<PickleValue, PickleError> {
    let mut stack: Vec<PickleValue> = Vec::new();
    let mut marks: Vec<usize> = Vec::new();
    let mut memo: std::collections::HashMap<u64, PickleValue> = std::collections::HashMap::new();
    let mut i = 0usize;
    let err = |m: &str, at: usize| PickleError(format!("{m} at byte {at}"));
    macro_rules! take {
        ($n:expr) => {{
            let n: usize = $n;
            let end = i.checked_add(n).filter(|e| *e <= data.len()).ok_or_else(|| err("truncated", i))?;
            let s = &data[i..end];
            i = end;
            s
        }};
    }
    macro_rules! pop {
        () => {
            stack.pop().ok_or_else(|| err("stack underflow", i))?
        };
    }
    macro_rules! pop_mark {
        () => {{
            let m = marks.pop().ok_or_else(|| err("no MARK", i))?;
            if m > stack.len() {
                return Err(err("bad MARK", i));
            }
            stack.split_off(m)
        }};
    }
    loop {
        let at = i;
        let op = *take!(1).first().ok_or_else(|| err("truncated", at))?;
        match op {
            0x80 => {
                take!(1);
            } // PROTO
            0x95 => {
                take!(8);
            } // FRAME
            b'.' => return stack.pop().ok_or_else(|| err("empty stack at STOP", at)), // STOP
            b'}' => stack.push(PickleValue::Dict(Vec::new())),
            b']' => stack.push(PickleValue::List(Vec::new())),
            b')' => stack.push(PickleValue::Tuple(Vec::new())),
            0x8f => stack.push(PickleValue::Set(Vec::new())), // EMPTY_SET
            b'(' => marks.push(stack.len()),
            b'N' => stack.push(PickleValue::None),
            0x88 => stack.push(PickleValue::Bool(true)),
            0x89 => stack.push(PickleValue::Bool(false)),
            b'J' => {
                let b = take!(4);
                stack.push(PickleValue::Int(i128::from(i32::from_le_bytes([b[0], b[1], b[2], b[3]]))));
            }
            b'K' => {
                let b = take!(1);
                stack.push(PickleValue::Int(i128::from(b[0])));
            }
            b'M' => {
                let b = take!(2);
                stack.push(PickleValue::Int(i128::from(u16::from_le_bytes([b[0], b[1]]))));
            }
            0x8a => {
                let n = take!(1)[0] as usize;
                let b = take!(n);
                stack.push(le_int(b));
            }
            0x8b => {
                let b = take!(4);
                let n = u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as usize;
                let b = take!(n);
                stack.push(le_int(b));
            }
            b'G' => {
                let b = take!(8);
                let mut a = [0u8; 8];
                a.copy_from_slice(b);
                stack.push(PickleValue::Float(f64::from_be_bytes(a)));
            }
            0x8c => {
                let n = take!(1)[0] as usize;
                let b = take!(n);
                stack.push(PickleValue::Str(utf8(b, at)?));
            }
            b'X' => {
                let b = take!(4);
                let n = u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as usize;
                let b = take!(n);
                stack.push(PickleValue::Str(utf8(b, at)?));
            }
            0x8d => {
                let b = take!(8);
                let mut a = [0u8; 8];
                a.copy_from_slice(b);
                let n = u64::from_le_bytes(a) as usize;
                if n > MAX_LEN {
                    return Err(err("string too long", at));
                }
                let b = take!(n);
                stack.push(PickleValue::Str(utf8(b, at)?));
            }
            b'C' => {
                let n = take!(1)[0] as usize;
                let b = take!(n);
                stack.push(PickleValue::Bytes(b.to_vec()));
            }
            b'B' => {
                let b = take!(4);
                let n = u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as usize;
                let b = take!(n);
                stack.push(PickleValue::Bytes(b.to_vec()));
            }
            0x8e => {
                let b = take!(8);
                let mut a = [0u8; 8];
                a.copy_from_slice(b);
                let n = u64::from_le_bytes(a) as usize;
                if n > MAX_LEN {
                    return Err(err("bytes too long", at));
                }
                let b = take!(n);
                stack.push(PickleValue::Bytes(b.to_vec()));
            }
            b'I' | b'L' => {
                // protocol 0 INT / LONG: decimal text line
                let end = data[i..].iter().position(|c| *c == b'\n').ok_or_else(|| err("unterminated INT", at))?;
                let t = utf8(&data[i..i + end], at)?;
                i += end + 1;
                let t = t.trim_end_matches('L');
                let v = match t {
                    "00" => PickleValue::Bool(false),
                    "01" => PickleValue::Bool(true),
                    _ => PickleValue::Int(t.parse::<i128>().map_err(|_| err("bad INT", at))?),
                };
                stack.push(v);
            }
            0x85 => {
                let a = pop!();
                stack.push(PickleValue::Tuple(vec![a]));
            }
            0x86 => {
                let b = pop!();
                let a = pop!();
                stack.push(PickleValue::Tuple(vec![a, b]));
            }
            0x87 => {
                let c = pop!();
                let b = pop!();
                let a = pop!();
                stack.push(PickleValue::Tuple(vec![a, b, c]));
            }
            b't' => {
                let items = pop_mark!();
                stack.push(PickleValue::Tuple(items));
            }
            b'l' => {
                let items = pop_mark!();
                stack.push(PickleValue::List(items));
            }
            b'd' => {
                let items = pop_mark!();
                stack.push(PickleValue::Dict(pairs(items, at)?));
            }
            0x94 => {
                let top = stack.last().ok_or_else(|| err("MEMOIZE on empty stack", at))?.clone();
                memo.insert(memo.len() as u64, top);
            }
            b'q' => {
                let k = u64::from(take!(1)[0]);
                let top = stack.last().ok_or_else(|| err("PUT on empty stack", at))?.clone();
                memo.insert(k, top);
            }
            b'r' => {
                let b = take!(4);
                let k = u64::from(u32::from_le_bytes([b[0], b[1], b[2], b[3]]));
                let top = stack.last().ok_or_else(|| err("PUT on empty stack", at))?.clone();
                memo.insert(k, top);
            }
            b'h' => {
                let k = u64::from(take!(1)[0]);
                stack.push(memo.get(&k).cloned().ok_or_else(|| err("unknown memo key", at))?);
            }
            b'j' => {
                let b = take!(4);
                let k = u64::from(u32::from_le_bytes([b[0], b[1], b[2], b[3]]));
                stack.push(memo.get(&k).cloned().ok_or_else(|| err("unknown memo key", at))?);
            }
            b's' => {
                let v = pop!();
                let k = pop!();
                match stack.last_mut() {
                    Some(PickleValue::Dict(d)) => d.push((k, v)),
                    _ => return Err(err("SETITEM on non-dict", at)),
                }
            }
            b'u' => {
                let items = pop_mark!();
                let p = pairs(items, at)?;
                match stack.last_mut() {
                    Some(PickleValue::Dict(d)) => d.extend(p),
                    _ => return Err(err("SETITEMS on non-dict", at)),
                }
            }
            b'a' => {
                let v = pop!();
                match stack.last_mut() {
                    Some(PickleValue::List(l)) => l.push(v),
                    _ => return Err(err("APPEND on non-list", at)),
                }
            }
            b'e' => {
                let items = pop_mark!();
                match stack.last_mut() {
                    Some(PickleValue::List(l)) => l.extend(items),
                    _ => return Err(err("APPENDS on non-list", at)),
                }
            }
            0x90 => {
                let items = pop_mark!();
                match stack.last_mut() {
                    Some(PickleValue::Set(l)) => l.extend(items),
                    _ => return Err(err("ADDITEMS on non-set", at)),
                }
            }
            b'c' => {
                let line = |i: &mut usize| -> Result<String, PickleError> {
                    let end =
                        data[*i..].iter().position(|c| *c == b'\n').ok_or_else(|| err("unterminated GLOBAL", at))?;
                    let s = utf8(&data[*i..*i + end], at)?;
                    *i += end + 1;
                    Ok(s)
                };
                let m = line(&mut i)?;
                let n = line(&mut i)?;
                stack.push(PickleValue::Global(m, n));
            }
            0x93 => {
                let n = pop!();
                let m = pop!();
                match (m, n) {
                    (PickleValue::Str(m), PickleValue::Str(n)) => stack.push(PickleValue::Global(m, n)),
                    _ => return Err(err("STACK_GLOBAL needs two strings", at)),
                }
            }
            0x81 | b'R' => {
                // NEWOBJ (cls, args) / REDUCE (callable, args)
                let args = pop!();
                let cls = pop!();
                let PickleValue::Tuple(args) = args else {
                    return Err(err("NEWOBJ/REDUCE args not a tuple", at));
                };
                match cls {
                    PickleValue::Global(module, name) => {
                        stack.push(PickleValue::Object { module, name, args, state: None });
                    }
                    _ => return Err(err("NEWOBJ/REDUCE on a non-class", at)),
                }
            }
            b'b' => {
                let st = pop!();
                match stack.last_mut() {
                    Some(PickleValue::Object { state, .. }) => *state = Some(Box::new(st)),
                    _ => return Err(err("BUILD on a non-object", at)),
                }
            }
            other => return Err(err(&format!("unsupported opcode 0x{other:02x}"), at)),
        }
    }
}

fn pairs(items: Vec<PickleValue>, at: usize) -> Result<Vec<(PickleValue, PickleValue)>, PickleError> {
    if !items.len().is_multiple_of(2) {
        return Err(PickleError(format!("odd number of dict items at byte {at}")));
    }
    let mut out = Vec::with_capacity(items.len() / 2);
    let mut it = items.into_iter();
    while let (Some(k), Some(v)) = (it.next(), it.next()) {
        out.push((k, v));
    }
    Ok(out)
}
