import { crc32, deflateSync } from 'node:zlib';

export type Rgb = readonly [number, number, number];

export function parseHexColor(hex: string): Rgb {
  const value = Number.parseInt(hex.slice(1), 16);
  return [(value >> 16) & 0xff, (value >> 8) & 0xff, value & 0xff];
}

/** WCAG relative luminance, 0 (black) to 1 (white). */
export function luminance([r, g, b]: Rgb): number {
  const channel = (c: number) => {
    const s = c / 255;
    return s <= 0.03928 ? s / 12.92 : ((s + 0.055) / 1.055) ** 2.4;
  };
  return 0.2126 * channel(r) + 0.7152 * channel(g) + 0.0722 * channel(b);
}

/** White or near-black, whichever reads better on `background`. */
export function textColorOn(background: Rgb): Rgb {
  const l = luminance(background);
  return (1.05 / (l + 0.05) >= (l + 0.05) / 0.05 ? [255, 255, 255] : [17, 17, 17]) as Rgb;
}

function chunk(type: string, data: Buffer): Buffer {
  const head = Buffer.alloc(8);
  head.writeUInt32BE(data.length, 0);
  head.write(type, 4, 'ascii');
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(Buffer.concat([head.subarray(4), data])) >>> 0, 0);
  return Buffer.concat([head, data, crc]);
}

/** An RGB PNG from a pixel function (8-bit, no alpha, filter 0 on every row). */
export function encodePng(size: number, pixel: (x: number, y: number) => Rgb): Buffer {
  const rows = Buffer.alloc(size * (size * 3 + 1));
  for (let y = 0; y < size; y++) {
    const row = y * (size * 3 + 1);
    for (let x = 0; x < size; x++) {
      const [r, g, b] = pixel(x, y);
      rows[row + 1 + x * 3] = r;
      rows[row + 2 + x * 3] = g;
      rows[row + 3 + x * 3] = b;
    }
  }
  const header = Buffer.alloc(13);
  header.writeUInt32BE(size, 0);
  header.writeUInt32BE(size, 4);
  header.set([8, 2, 0, 0, 0], 8);
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk('IHDR', header),
    chunk('IDAT', deflateSync(rows, { level: 9 })),
    chunk('IEND', Buffer.alloc(0)),
  ]);
}

const roundedBox = (px: number, py: number, cx: number, cy: number, hw: number, hh: number, r: number) => {
  const qx = Math.abs(px - cx) - hw + r;
  const qy = Math.abs(py - cy) - hh + r;
  return Math.hypot(Math.max(qx, 0), Math.max(qy, 0)) + Math.min(Math.max(qx, qy), 0) - r;
};

const segment = (px: number, py: number, ax: number, ay: number, bx: number, by: number) => {
  const dx = bx - ax;
  const dy = by - ay;
  const t = Math.max(0, Math.min(1, ((px - ax) * dx + (py - ay) * dy) / (dx * dx + dy * dy)));
  return Math.hypot(px - ax - t * dx, py - ay - t * dy);
};

/**
 * The Home Screen icon: a phone outline with a check mark, in the text colour on the brand colour, full bleed
 * (iOS rounds the corners itself). Drawn on a 180-unit grid, 4 × 4 samples per pixel for smooth edges.
 */
export function homeScreenIcon(brand: Rgb, size = 180): Buffer {
  const ink = textColorOn(brand);
  const scale = 180 / size;
  const covered = (x: number, y: number) => {
    const phone = Math.abs(roundedBox(x, y, 90, 90, 38, 60, 12) + 4.5) <= 4.5;
    const speaker = segment(x, y, 80, 44, 100, 44) <= 2.5;
    const check = Math.min(segment(x, y, 70, 92, 85, 107), segment(x, y, 85, 107, 111, 76)) <= 5;
    return phone || speaker || check;
  };
  return encodePng(size, (px, py) => {
    let hits = 0;
    for (let sy = 0; sy < 4; sy++)
      for (let sx = 0; sx < 4; sx++) if (covered((px + (sx + 0.5) / 4) * scale, (py + (sy + 0.5) / 4) * scale)) hits++;
    const a = hits / 16;
    return [0, 1, 2].map((i) => Math.round(brand[i] * (1 - a) + ink[i] * a)) as unknown as Rgb;
  });
}
