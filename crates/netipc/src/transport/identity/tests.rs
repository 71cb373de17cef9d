//! Text forms, matching and messages of the identity types.

use super::*;

#[test]
fn identities_round_trip_as_text() {
    for text in [
        "uid:0",
        "gid:999",
        "S-1-5-18",
        "S-1-5-32-544",
        "S-1-5-21-1004336348-1177238915-682003330-1000",
        "S-1-0x123456789ABC-1",
        "S-1-16",
    ] {
        let id: Identity = text.parse().unwrap();
        assert_eq!(id.to_string(), text);
    }
    assert_eq!(
        "S-1-5-18".parse::<Identity>().unwrap(),
        Identity::Sid(Sid::LOCAL_SYSTEM)
    );
    assert_eq!(
        "s-1-5-0x20-0x220".parse::<Identity>().unwrap(),
        Identity::Sid(Sid::ADMINISTRATORS)
    );
    for bad in [
        "",
        "1000",
        "uid:",
        "uid:-1",
        "uid:4294967296",
        "gid:x",
        "S-2-5-18",
        "S-1",
        "S-1-5-",
        "S-1-5-18-",
        "S-1-281474976710656",
        "S-1-5-1-2-3-4-5-6-7-8-9-10-11-12-13-14-15-16",
        "root",
    ] {
        assert!(bad.parse::<Identity>().is_err(), "{bad:?} parsed");
    }
}

#[test]
fn sids_round_trip_as_bytes() {
    let sid: Sid = "S-1-5-21-1004336348-1177238915-682003330-1000"
        .parse()
        .unwrap();
    let bytes = sid.to_bytes();
    assert_eq!(bytes.len(), 8 + 4 * 5);
    assert_eq!(&bytes[..8], &[1, 5, 0, 0, 0, 0, 0, 5]);
    assert_eq!(Sid::from_bytes(&bytes), Some(sid));
    assert_eq!(Sid::from_bytes(&bytes[..bytes.len() - 1]), None);
    let mut wrong = bytes.clone();
    wrong[0] = 2;
    assert_eq!(Sid::from_bytes(&wrong), None);
    assert_eq!(sid.authority(), 5);
    assert_eq!(sid.sub_authorities().len(), 5);
}

#[test]
fn lists_policies_and_access_round_trip() {
    let list: Identities = "uid:0, gid:999,S-1-5-18".parse().unwrap();
    assert_eq!(list.len(), 3);
    assert_eq!(list.to_string(), "uid:0,gid:999,S-1-5-18");
    assert!(list.contains(&Identity::Gid(999)));
    assert!(!list.contains(&Identity::Uid(999)));
    let dup: Identities = "uid:1,uid:1".parse().unwrap();
    assert_eq!(dup.len(), 1);
    let nine = (0..9)
        .map(|i| format!("uid:{i}"))
        .collect::<Vec<_>>()
        .join(",");
    assert_eq!(nine.parse::<Identities>(), Err(IdentityParseError::TooMany));
    for text in ["default", "same-user-or-admin", "any", "uid:0,uid:1000"] {
        let policy: IdentityPolicy = text.parse().unwrap();
        assert_eq!(policy.to_string(), text);
    }
    assert!("".parse::<IdentityPolicy>().is_err());
    assert!("everyone".parse::<IdentityPolicy>().is_err());
    for text in ["owner-only", "group:gid:999", "group:S-1-5-32-545"] {
        let access: EndpointAccess = text.parse().unwrap();
        assert_eq!(access.to_string(), text);
    }
    assert!("group:".parse::<EndpointAccess>().is_err());
    assert!("0660".parse::<EndpointAccess>().is_err());
    assert_eq!(IdentityPolicy::default(), IdentityPolicy::Default);
    assert_eq!(EndpointAccess::default(), EndpointAccess::OwnerOnly);
}

#[test]
fn a_peer_matches_by_user_or_group() {
    let accepted: Identities = "uid:0,gid:999".parse().unwrap();
    let peer = |user, groups: &[Identity]| PeerIdentity {
        pid: Some(1),
        user,
        groups: groups.to_vec(),
    };
    assert!(peer(Some(Identity::Uid(0)), &[]).is_in(&accepted));
    assert!(peer(Some(Identity::Uid(5)), &[Identity::Gid(999)]).is_in(&accepted));
    assert!(!peer(Some(Identity::Uid(999)), &[Identity::Gid(5)]).is_in(&accepted));
    assert!(!peer(None, &[]).is_in(&accepted));
    assert!(!peer(Some(Identity::Uid(0)), &[]).is_in(&Identities::new()));
}

#[test]
fn the_default_means_what_the_side_says() {
    assert_eq!(IdentityPolicy::Default.accepted(true).unwrap(), None);
    assert_eq!(IdentityPolicy::Any.accepted(false).unwrap(), None);
    let me = Identity::current_user().unwrap();
    for policy in [IdentityPolicy::Default, IdentityPolicy::SameUserOrAdmin] {
        let set = policy.accepted(false).unwrap().unwrap();
        assert!(set.contains(&me));
        for admin in sys::admin_identities() {
            assert!(set.contains(admin));
        }
    }
}

#[test]
fn the_refusal_names_endpoint_user_and_accepted() {
    let e = UntrustedProvider {
        endpoint: "/run/netdata/cgroups-snapshot.sock".into(),
        pid: Some(4242),
        user: Some(Identity::Uid(1001)),
        accepted: "uid:0,uid:1000".parse().unwrap(),
    };
    assert_eq!(
        e.to_string(),
        "the provider at /run/netdata/cgroups-snapshot.sock runs as uid:1001 (pid 4242) \
         (expected uid:0 or uid:1000: the client's provider_identity); refusing to send the \
         auth token: stop the process that holds the endpoint, or accept its identity in \
         provider_identity"
    );
}
