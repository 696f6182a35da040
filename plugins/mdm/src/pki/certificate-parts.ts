/** Pull the pieces CMS needs out of a certificate's DER without re-encoding them. */

import forge from 'node-forge';
import { type Asn1, isContext, parseDer, primitiveBytes, readOid, sequenceOf, toDer } from './asn1-guard.js';
import { sequence, tlv } from './der.js';
import { Oid } from './oids.js';

export interface CertificateParts {
  /** INTEGER content octets of serialNumber. */
  serialBytes: Buffer;
  issuerNameDer: Buffer;
  subjectNameDer: Buffer;
  subjectNameNode: Asn1;
  /** IssuerAndSerialNumber DER, the SignerIdentifier / RecipientIdentifier CMS uses. */
  issuerAndSerialDer: Buffer;
  subjectKeyId?: Buffer;
}

export function certificateParts(certDer: Buffer): CertificateParts {
  const [tbsNode] = sequenceOf(parseDer(certDer), 'Certificate');
  const tbs = sequenceOf(tbsNode, 'TBSCertificate');
  const offset = isContext(tbs[0], 0) ? 1 : 0; // [0] EXPLICIT version present on v2/v3 certificates
  const serialBytes = primitiveBytes(tbs[offset], forge.asn1.Type.INTEGER, 'serialNumber');
  const issuerNameDer = toDer(tbs[offset + 2]);
  const subjectNameNode = tbs[offset + 4];
  let subjectKeyId: Buffer | undefined;
  const extensions = tbs.slice(offset + 6).find((node) => isContext(node, 3));
  if (extensions) {
    for (const extension of sequenceOf((extensions.value as Asn1[])[0], 'Extensions')) {
      const fields = sequenceOf(extension, 'Extension');
      if (readOid(fields[0], 'extnID') !== Oid.subjectKeyIdentifier) continue;
      const octets = primitiveBytes(fields[fields.length - 1], forge.asn1.Type.OCTETSTRING, 'extnValue');
      subjectKeyId = primitiveBytes(parseDer(octets), forge.asn1.Type.OCTETSTRING, 'SubjectKeyIdentifier');
    }
  }
  return {
    serialBytes,
    issuerNameDer,
    subjectNameDer: toDer(subjectNameNode),
    subjectNameNode,
    issuerAndSerialDer: sequence(issuerNameDer, tlv(0x02, serialBytes)),
    subjectKeyId,
  };
}
