//! Concurrent decisions of one key, coalesced: `k` check-script calls that are the same call
//! (one key, one window, one cost, no memory guard) and leave in one pipeline become one call
//! deciding the `k` requests one after the other (`ARGV[2n+3] = k` of `lua/check.lua`), and its
//! reply is split here into the `k` replies they would each have got alone, in order, at that
//! instant of Redis time. Exactness is that of `k` calls back to back: the first requests that
//! fit are admitted, the rest denied with the wait after them; Redis counts the admitted cost at
//! once.
//!
//! Pure functions: the batching task ([`super::batch`]) calls them.

use redis::Value;

/// What makes two calls the same call: their keys and arguments, when the call can be
/// coalesced (a one-window check without the memory guard's flag).
pub(crate) type Group = Vec<u8>;

/// The group of a check-script call with `keys` and `args` (`ARGV`), when it can be coalesced:
/// one window (one key; `ARGV` = cost, limit, window), no memory-guard flag.
pub(crate) fn group_of(keys: &[Vec<u8>], args: &[Vec<u8>]) -> Option<Group> {
    if keys.len() != 1 || args.len() != 3 {
        return None;
    }
    let mut group = Vec::with_capacity(keys[0].len() + 32);
    for part in keys.iter().chain(args) {
        group.extend_from_slice(&(part.len() as u32).to_le_bytes());
        group.extend_from_slice(part);
    }
    Some(group)
}

/// The `k` one-request replies of a coalesced reply `{admitted, 1, wait, now, room, left}`
/// for requests of `cost`; `None` when the reply is not of that shape.
pub(crate) fn split(reply: &Value, k: usize, cost: i64) -> Option<Vec<Value>> {
    let Value::Array(items) = reply else {
        return None;
    };
    let ints: Vec<i64> = items
        .iter()
        .map(|v| match v {
            Value::Int(i) => Some(*i),
            _ => None,
        })
        .collect::<Option<_>>()?;
    let [admitted, reported, wait, now, room, left] = ints[..] else {
        return None;
    };
    let admitted = usize::try_from(admitted).ok()?.min(k);
    Some(
        (0..k)
            .map(|i| {
                let (allowed, retry, remaining) = if i < admitted {
                    (1, 0, room - (i as i64 + 1) * cost)
                } else {
                    (0, wait, room - admitted as i64 * cost)
                };
                Value::Array(
                    [allowed, reported, retry, now, remaining.max(0), left]
                        .into_iter()
                        .map(Value::Int)
                        .collect(),
                )
            })
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ints(v: &Value) -> Vec<i64> {
        match v {
            Value::Array(items) => items
                .iter()
                .map(|i| match i {
                    Value::Int(i) => *i,
                    _ => panic!("{i:?}"),
                })
                .collect(),
            _ => panic!("{v:?}"),
        }
    }

    #[test]
    fn the_first_that_fit_are_admitted_and_the_rest_denied_with_the_wait() {
        // Room 5 before the first, cost 2: two admitted (remaining 3, then 1), two denied.
        let reply = Value::Array([2, 1, 700, 1_000, 5, 300].map(Value::Int).to_vec());
        let each = split(&reply, 4, 2).unwrap();
        let got: Vec<Vec<i64>> = each.iter().map(ints).collect();
        assert_eq!(
            got,
            vec![
                vec![1, 1, 0, 1_000, 3, 300],
                vec![1, 1, 0, 1_000, 1, 300],
                vec![0, 1, 700, 1_000, 1, 300],
                vec![0, 1, 700, 1_000, 1, 300],
            ]
        );
    }

    #[test]
    fn remaining_never_goes_negative_and_bad_replies_are_refused() {
        let reply = Value::Array([0, 1, 50, 9, -3, 10].map(Value::Int).to_vec());
        assert_eq!(
            ints(&split(&reply, 2, 1).unwrap()[1]),
            vec![0, 1, 50, 9, 0, 10]
        );
        assert!(split(&Value::Array(vec![Value::Int(1)]), 2, 1).is_none());
        assert!(split(&Value::Nil, 2, 1).is_none());
    }

    #[test]
    fn only_one_window_calls_without_the_guard_flag_group() {
        let key = vec![b"k".to_vec()];
        let args = |n: usize| vec![b"1".to_vec(); n];
        assert!(group_of(&key, &args(3)).is_some());
        assert!(group_of(&key, &args(4)).is_none(), "memory guard flag");
        assert!(group_of(&[b"a".to_vec(), b"b".to_vec()], &args(5)).is_none());
        assert_ne!(
            group_of(&key, &[b"1".to_vec(), b"10".to_vec(), b"0".to_vec()]),
            group_of(&key, &[b"11".to_vec(), b"0".to_vec(), b"0".to_vec()]),
            "lengths keep the parts apart"
        );
    }
}
