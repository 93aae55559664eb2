//! The engine harness gets past the decoder: built messages fill the table, replays and
//! deadlines run the relay and expiry paths, and nothing it does violates an invariant.

use core::net::{IpAddr, Ipv4Addr};

use omdisc_core::AddrList;
use omdisc_core::{Duration, IfaceId, Message, MessageKind, NodeAddr, NodeId};
use omdisc_fuzz::engine::{self, reach, CAPACITY};
use omdisc_fuzz::scenario::{
    encode_set_addresses, encode_setup, Advance, KeyChoice, Payload, Scenario, Source, Step,
};

fn announce(host: u8, hops: u8) -> Message {
    let mut addrs = AddrList::new();
    addrs
        .push(NodeAddr::primary(
            IpAddr::V4(Ipv4Addr::new(10, 0, 0, host)),
            IfaceId::FIRST,
        ))
        .unwrap();
    Message {
        kind: MessageKind::Announce,
        join: true,
        unicast: false,
        gateway: false,
        hops,
        relayer: (hops > 0).then(|| NodeId::new(200).unwrap()),
        origin: NodeId::new(u16::from(host)).unwrap(),
        incarnation: 1,
        sequence: 1,
        interval: Duration::from_secs(1),
        addrs,
    }
}

fn deliver(iface: usize, msg: Message, keys: KeyChoice) -> Step {
    Step::Datagram {
        advance: 5,
        iface: IfaceId::new(iface).unwrap(),
        source: Source::Claimed,
        payload: Payload::Built(msg, keys),
    }
}

fn scenario(keys: KeyChoice, interfaces: usize, steps: Vec<Step>) -> Scenario {
    let mut setup = Scenario::decode(&encode_setup(keys)).setup;
    setup.interfaces = interfaces;
    Scenario { setup, steps }
}

#[test]
fn built_announcements_fill_the_table_and_then_expire() {
    let mut steps: Vec<Step> = (2..=9)
        .map(|host| deliver(0, announce(host, 0), KeyChoice::None))
        .collect();
    // Probe intervals and their timeouts are deadlines too: enough steps to reach expiry.
    steps.extend((0..40).map(|_| Step::Timeout(Advance::ToDeadline)));
    let reached = reach(&scenario(KeyChoice::None, 1, steps.clone()));
    assert_eq!(reached.max_members, CAPACITY);
    assert_eq!(reached.accepted, CAPACITY as u64 - 1);
    assert!(reached.departed >= 1, "{reached:?}");
    engine::run(&scenario(KeyChoice::None, 1, steps));
}

#[test]
fn a_gateway_relays_built_announcements_to_its_other_network() {
    let steps = vec![
        deliver(0, announce(2, 0), KeyChoice::None),
        deliver(1, announce(3, 1), KeyChoice::None),
        Step::Datagram {
            advance: 1,
            iface: IfaceId::FIRST,
            source: Source::Claimed,
            payload: Payload::Replay(0),
        },
    ];
    let reached = reach(&scenario(KeyChoice::None, 2, steps));
    assert_eq!(reached.max_members, 3);
    assert!(reached.relayed >= 2, "{reached:?}");
}

#[test]
fn a_keyed_engine_admits_only_messages_signed_with_its_key() {
    let steps = vec![
        deliver(0, announce(2, 0), KeyChoice::None),
        deliver(0, announce(3, 0), KeyChoice::Other),
        deliver(0, announce(4, 0), KeyChoice::Vector),
        Step::Rekey(KeyChoice::Rolling),
        deliver(0, announce(5, 0), KeyChoice::Other),
    ];
    let reached = reach(&scenario(KeyChoice::Vector, 1, steps));
    assert_eq!(reached.accepted, 2, "{reached:?}");
    assert_eq!(reached.max_members, 3);
}

#[test]
fn addresses_that_change_give_new_ids_and_refusals_change_nothing() {
    let v4 = |host| IpAddr::V4(Ipv4Addr::new(10, 0, 0, host));
    let set = |iface: usize, addrs: Vec<IpAddr>| Step::SetAddresses {
        iface: IfaceId::new(iface).unwrap(),
        addrs,
    };
    let steps = vec![
        deliver(0, announce(2, 0), KeyChoice::None),
        deliver(0, announce(3, 0), KeyChoice::None),
        // A new address: id 7, and the old id 1 leaves.
        set(0, vec![v4(7)]),
        Step::Timeout(Advance::ToDeadline),
        // Refused: an interface it does not have, an address no node can have, too many.
        set(3, vec![v4(8)]),
        set(0, vec![v4(8), IpAddr::V4(Ipv4Addr::UNSPECIFIED)]),
        set(0, (1..=7).map(v4).collect()),
        // No address left, then one whose id is a peer's: a conflict, resolved by address.
        set(0, vec![]),
        Step::Timeout(Advance::By(700)),
        set(0, vec![v4(2)]),
        Step::Resumed(IfaceId::FIRST),
        Step::Timeout(Advance::ToDeadline),
        deliver(0, announce(2, 0), KeyChoice::None),
        Step::Timeout(Advance::ToDeadline),
    ];
    let mut scenario = scenario(KeyChoice::None, 1, steps);
    scenario.setup.id_from_address = true;
    let reached = reach(&scenario);
    assert_eq!(reached.own_ids, 3, "{reached:?}");
    assert!(reached.max_members >= 3, "{reached:?}");
    engine::run(&scenario);
    scenario.setup.lazy_drain = true;
    engine::run(&scenario);
}

/// A small deterministic generator for the inputs below (xorshift64*).
fn next(state: &mut u64) -> u8 {
    *state ^= *state >> 12;
    *state ^= *state << 25;
    *state ^= *state >> 27;
    (state.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 56) as u8
}

#[test]
fn random_inputs_with_address_steps_keep_every_invariant() {
    let mut state = 0x0d15_c0de_u64;
    for _ in 0..400 {
        // A setup with the id from the address half of the time, then random steps with an
        // address step (or a resumed link) every few.
        let mut data: Vec<u8> = (0..4).map(|_| next(&mut state)).collect();
        let len = 40 + usize::from(next(&mut state));
        for i in 0..len {
            if i % 9 == 0 {
                let pool: Vec<u8> = (0..next(&mut state) % 4)
                    .map(|_| next(&mut state))
                    .collect();
                data.extend(encode_set_addresses(next(&mut state) % 4, &pool));
            } else {
                data.push(next(&mut state));
            }
        }
        engine::run(&Scenario::decode(&data));
    }
}
