//! Our side of a channel from what LDK's channel details give: capacities net of the
//! reserves and of HTLCs in flight, never the balance itself.

/// What LDK reports of one channel, in its units.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ChannelFigures {
    pub capacity_sat: u64,
    pub outbound_msat: u64,
    pub inbound_msat: u64,
    /// The reserve the peer requires us to keep.
    pub our_reserve_sat: u64,
    /// The reserve we require the peer to keep.
    pub their_reserve_sat: u64,
    /// The anchor outputs the funder pays (none in a channel without anchors).
    pub anchors_sat: u64,
}

/// Two anchor outputs of 330 sat: what an anchor channel's funder puts aside.
pub(crate) const ANCHORS_SAT: u64 = 2 * 330;

/// Our side, our reserve included, outbound HTLCs in flight and (if we funded the channel)
/// its anchors excluded: LDK's outbound capacity counts the same way. Above our reserve
/// the outbound capacity plus the reserve is exact. Below it LDK reports no outbound
/// capacity, so our side is what the peer's side (its inbound capacity plus the reserve we
/// require of it) and the anchors leave of the channel, never more than our reserve: a
/// channel the peer opened to us starts at zero, not at the reserve.
pub(crate) fn our_side_msat(c: ChannelFigures) -> u64 {
    let reserve_msat = c.our_reserve_sat * 1000;
    if c.outbound_msat > 0 {
        return c.outbound_msat + reserve_msat;
    }
    let theirs_msat = c.inbound_msat + (c.their_reserve_sat + c.anchors_sat) * 1000;
    (c.capacity_sat * 1000)
        .saturating_sub(theirs_msat)
        .min(reserve_msat)
}

#[cfg(test)]
mod tests {
    use super::*;

    const CHANNEL: ChannelFigures = ChannelFigures {
        capacity_sat: 1_000_000,
        outbound_msat: 0,
        inbound_msat: 0,
        our_reserve_sat: 10_000,
        their_reserve_sat: 10_000,
        anchors_sat: ANCHORS_SAT,
    };

    #[test]
    fn above_the_reserve_it_is_outbound_capacity_plus_the_reserve() {
        let ours = ChannelFigures {
            outbound_msat: 400_000_000,
            inbound_msat: 580_000_000,
            ..CHANNEL
        };
        assert_eq!(our_side_msat(ours), 410_000_000);
    }

    #[test]
    fn below_the_reserve_it_is_what_the_peers_side_leaves() {
        let opened_to_us = ChannelFigures {
            inbound_msat: 989_340_000,
            ..CHANNEL
        };
        assert_eq!(our_side_msat(opened_to_us), 0);
        let paid_a_little = ChannelFigures {
            inbound_msat: 986_340_000,
            ..CHANNEL
        };
        assert_eq!(our_side_msat(paid_a_little), 3_000_000);
        // HTLCs in flight hide part of the peer's side: never more than our reserve.
        let busy = ChannelFigures {
            inbound_msat: 500_000_000,
            ..CHANNEL
        };
        assert_eq!(our_side_msat(busy), 10_000_000);
    }
}
