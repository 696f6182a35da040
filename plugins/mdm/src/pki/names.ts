/** X.501 Names: one encoder and one decoder so certificates, CSRs and summaries agree on spelling. */
import { type Asn1, readOid, readText, sequenceOf, setItems } from './asn1-guard.js';
import { oid, printableString, sequence, setOf, tlv, utf8String } from './der.js';
import { CertificateIssueError } from './errors.js';

/** One RDN attribute. `type` is a short name (CN, O, OU, C, ST, L, emailAddress, serialNumber) or a dotted OID. */
export interface NameAttribute {
  type: string;
  value: string;
}
export type DistinguishedName = readonly NameAttribute[];

const oidByShortName: Record<string, string> = {
  CN: '2.5.4.3',
  serialNumber: '2.5.4.5',
  C: '2.5.4.6',
  L: '2.5.4.7',
  ST: '2.5.4.8',
  O: '2.5.4.10',
  OU: '2.5.4.11',
  emailAddress: '1.2.840.113549.1.9.1',
};
const shortNameByOid = Object.fromEntries(Object.entries(oidByShortName).map(([name, id]) => [id, name]));
const DOTTED = /^\d+(\.\d+)+$/;

/** RDNSequence DER, one attribute per RDN, in the given order. */
export function encodeName(name: DistinguishedName): Buffer {
  if (name.length === 0) throw new CertificateIssueError('subject must not be empty');
  return sequence(
    ...name.map((attribute) => {
      const id = DOTTED.test(attribute.type) ? attribute.type : oidByShortName[attribute.type];
      if (!id) throw new CertificateIssueError(`unknown name attribute "${attribute.type}"`);
      if (attribute.value.length === 0 || attribute.value.length > 256) {
        throw new CertificateIssueError(`name attribute ${attribute.type} must be 1-256 characters`);
      }
      // C and serialNumber are PrintableString, emailAddress IA5String, the rest UTF8String (RFC 5280 §4.1.2.6).
      const value =
        id === oidByShortName.C || id === oidByShortName.serialNumber
          ? printableString(attribute.value)
          : id === oidByShortName.emailAddress
            ? tlv(0x16, Buffer.from(attribute.value, 'latin1'))
            : utf8String(attribute.value);
      return setOf(sequence(oid(id), value));
    }),
  );
}

export function decodeName(node: Asn1): DistinguishedName {
  const attributes: NameAttribute[] = [];
  for (const rdn of sequenceOf(node, 'Name')) {
    for (const pair of setItems(rdn, 'RelativeDistinguishedName')) {
      const [typeNode, valueNode] = sequenceOf(pair, 'AttributeTypeAndValue');
      const id = readOid(typeNode, 'attribute type');
      attributes.push({ type: shortNameByOid[id] ?? id, value: readText(valueNode, `attribute ${id}`) });
    }
  }
  return attributes;
}

/** "CN=foo, O=bar" in stored order; for logs and admin display, not for matching. */
export function formatName(name: DistinguishedName): string {
  return name.map((attribute) => `${attribute.type}=${attribute.value}`).join(', ');
}
