//! Ports on 127.0.0.1: whether one is free, the next free one after it, and moving a stack's
//! taken ports to free ones (the demo on a machine where Redis already listens on 6379).

use std::net::TcpListener;

/// Whether `port` can be bound on 127.0.0.1 now.
pub fn is_free(port: u16) -> bool {
    TcpListener::bind(("127.0.0.1", port)).is_ok()
}

/// The first port after `port` that is free now and not in `avoid` (the stack's other ports).
pub fn free_after(port: u16, avoid: &[u16]) -> Option<u16> {
    (port.checked_add(1)?..=u16::MAX)
        .take(1000)
        .find(|p| !avoid.contains(p) && is_free(*p))
}

/// A port a stack moved because its own was taken.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PortMove {
    /// The component whose port moved (`redis`, `node-1`...).
    pub component: String,
    /// The port it asked for, taken.
    pub from: u16,
    /// The free port it got instead.
    pub to: u16,
}

impl std::fmt::Display for PortMove {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "port {} ({}) is taken: using {} instead",
            self.from, self.component, self.to
        )
    }
}

/// Moves each taken port of `ports` (component, port) to the next free one not used by another
/// component; returns the moves, in order. A port that is taken and has no free successor stays
/// (starting then fails naming it).
pub fn move_taken(ports: &mut [(String, u16)]) -> Vec<PortMove> {
    let mut moves = Vec::new();
    for i in 0..ports.len() {
        let (component, port) = ports[i].clone();
        if is_free(port) {
            continue;
        }
        let avoid: Vec<u16> = ports.iter().map(|(_, p)| *p).collect();
        if let Some(to) = free_after(port, &avoid) {
            ports[i].1 = to;
            moves.push(PortMove {
                component,
                from: port,
                to,
            });
        }
    }
    moves
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn taken_ports_move_to_free_ones_not_used_by_the_stack() {
        let held = TcpListener::bind("127.0.0.1:0").unwrap();
        let taken = held.local_addr().unwrap().port();
        let free = free_after(taken, &[]).unwrap();
        assert!(free > taken && is_free(free));
        assert!(!is_free(taken));
        // The stack's next port is the free one: the move skips it.
        let mut ports = vec![("redis".to_owned(), taken), ("node-1".to_owned(), free)];
        let moves = move_taken(&mut ports);
        assert_eq!(moves.len(), 1, "{moves:?}");
        assert_eq!(
            (moves[0].from, moves[0].component.as_str()),
            (taken, "redis")
        );
        assert!(moves[0].to != free && moves[0].to > taken);
        assert_eq!(ports[0].1, moves[0].to);
        assert_eq!(ports[1].1, free);
        assert!(
            moves[0]
                .to_string()
                .starts_with(&format!("port {taken} (redis) is taken: using "))
        );
    }
}
