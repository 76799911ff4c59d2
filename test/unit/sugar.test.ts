import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { combinedFilter, flagsExpr } from '../../src/modes/xdp/sugar.js';
import { parseNet } from '../../src/options/index.js';

describe('--protocol/--src-ip/--dst-ip/--src-port/--dst-port as a tcpdump expression', () => {
  test('each flag, and several AND-ed', () => {
    assert.equal(flagsExpr({ protocols: ['all'] }), null);
    assert.equal(flagsExpr({ protocols: ['tcp'] }), 'tcp');
    assert.equal(flagsExpr({ protocols: ['icmpv6'] }), 'icmp6');
    assert.equal(flagsExpr({ protocols: ['udp'] }), 'udp and not udp dst port 4791');
    assert.equal(flagsExpr({ protocols: ['roce', 'roce_v2'] }), '(ether proto 0x8915) or (udp dst port 4791)');
    assert.equal(flagsExpr({ protocols: ['all'], srcNet: parseNet('10.1.2.3/16')!, dstPort: 443 }), 'ip src net 10.1.0.0/16 and dst port 443');
    assert.equal(flagsExpr({ protocols: ['tcp', 'icmp'], dstNet: parseNet('fd00::1')!, srcPort: 7 }), '((tcp) or (icmp)) and ip6 dst host fd00::1 and src port 7');
  });

  test('behind up to two VLAN tags, after the expression given', () => {
    assert.equal(combinedFilter({ protocols: ['all'] }), null);
    assert.equal(combinedFilter({ protocols: ['all'], filter: 'vlan 5' }), 'vlan 5');
    assert.equal(combinedFilter({ protocols: ['tcp'] }), '(tcp) or (vlan and ((tcp) or (vlan and (tcp))))');
    assert.equal(combinedFilter({ protocols: ['all'], dstPort: 53, filter: 'greater 100' }), '(greater 100) and ((dst port 53) or (vlan and ((dst port 53) or (vlan and (dst port 53)))))');
  });

  test('what cannot be combined is said, naming the flags', () => {
    assert.throws(() => combinedFilter({ protocols: ['udp'], srcPort: 5, filter: 'vlan and udp' }), /^XtError: --protocol, --src-port: cannot be combined with a filter expression that uses vlan/);
    assert.throws(() => combinedFilter({ protocols: ['all'], srcNet: parseNet('10.0.0.1')!, dstNet: parseNet('::1')! }), /different IP versions/);
  });
});
