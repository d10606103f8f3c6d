// Printable device labels: one label per page of a PDF (pdf-lib), the short id large (what an installer reads out
// on the phone), a QR code of the device's page address (what a phone scans), its fleet and name. The QR code is
// drawn as vector squares from the code's own module matrix, so it stays sharp at any printer's resolution.
import { PDFDocument, StandardFonts, rgb, type PDFFont, type PDFPage } from 'pdf-lib';
import QRCode from 'qrcode';

/** What one label shows. */
export interface LabelContent {
  shortId: string;
  /** The device page address the QR code holds. */
  url: string;
  fleet: string;
  name: string;
}

const MM = 72 / 25.4;
/** 90 x 40 mm: the size of common thermal label rolls (and two columns fit an A4 sheet for office printers). */
export const LABEL_WIDTH_PT = 90 * MM;
export const LABEL_HEIGHT_PT = 40 * MM;
const MARGIN = 3 * MM;
/** The quiet zone around a QR code that scanners need, in modules (ISO/IEC 18004 asks for 4). */
const QUIET_MODULES = 4;

/** The address of a device's page: the dashboard's (or API's) base URL and the short id. */
export function deviceUrl(baseUrl: string, shortId: string): string {
  return `${baseUrl.replace(/\/+$/, '')}/devices/${encodeURIComponent(shortId)}`;
}

/**
 * The device a label's QR code names, from what an installer types or scans: the short id (or uuid) itself, or the
 * page address (`.../devices/<shortId>`). Null when it is neither.
 */
export function deviceFromLabel(given: string): string | null {
  const trimmed = given.trim();
  if (/^[A-Za-z0-9-]{1,64}$/.test(trimmed)) return trimmed;
  let url: URL;
  try {
    url = new URL(trimmed);
  } catch {
    return null;
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') return null;
  const match = /\/devices\/([A-Za-z0-9-]{1,64})\/?$/.exec(url.pathname);
  return match?.[1] ?? null;
}

function drawQr(page: PDFPage, text: string, x: number, y: number, size: number): void {
  const qr = QRCode.create(text, { errorCorrectionLevel: 'M' });
  const count = qr.modules.size;
  const module = size / (count + 2 * QUIET_MODULES);
  const origin = { x: x + QUIET_MODULES * module, y: y + QUIET_MODULES * module };
  for (let row = 0; row < count; row++) {
    // Runs of dark modules in a row as one rectangle: fewer objects, no hairline gaps between neighbours.
    let start = -1;
    for (let col = 0; col <= count; col++) {
      const dark = col < count && qr.modules.get(row, col) === 1;
      if (dark && start < 0) start = col;
      if (!dark && start >= 0) {
        page.drawRectangle({
          x: origin.x + start * module,
          // PDF's y grows upwards; the matrix's rows go down.
          y: origin.y + (count - 1 - row) * module,
          width: (col - start) * module,
          height: module,
          color: rgb(0, 0, 0),
        });
        start = -1;
      }
    }
  }
}

/** The longest prefix of `text` that fits `width` at `size`, with an ellipsis when cut. */
function fitted(font: PDFFont, text: string, size: number, width: number): string {
  // The standard fonts encode WinAnsi only: anything else would throw, so it is shown as '?'.
  let shown = [...text].map((c) => (/[\x20-\x7e\xa0-\xff]/.test(c) ? c : '?')).join('');
  if (font.widthOfTextAtSize(shown, size) <= width) return shown;
  while (shown.length > 1 && font.widthOfTextAtSize(`${shown}...`, size) > width) shown = shown.slice(0, -1);
  return `${shown}...`;
}

/** A PDF with one label per device, in the order given. */
export async function labelsPdf(labels: readonly LabelContent[]): Promise<Uint8Array> {
  const pdf = await PDFDocument.create();
  pdf.setTitle(`Skiff device labels (${labels.length})`);
  pdf.setCreator('skiff device label');
  const bold = await pdf.embedFont(StandardFonts.HelveticaBold);
  const regular = await pdf.embedFont(StandardFonts.Helvetica);
  for (const label of labels) {
    const page = pdf.addPage([LABEL_WIDTH_PT, LABEL_HEIGHT_PT]);
    const qrSize = LABEL_HEIGHT_PT - 2 * MARGIN;
    drawQr(page, label.url, MARGIN, MARGIN, qrSize);
    const textX = MARGIN + qrSize + 2 * MM;
    const textWidth = LABEL_WIDTH_PT - textX - MARGIN;
    let idSize = 22;
    while (idSize > 8 && bold.widthOfTextAtSize(label.shortId, idSize) > textWidth) idSize -= 1;
    page.drawText(fitted(bold, label.shortId, idSize, textWidth), {
      x: textX,
      y: LABEL_HEIGHT_PT - MARGIN - idSize,
      size: idSize,
      font: bold,
    });
    page.drawText(fitted(regular, `Fleet: ${label.fleet}`, 8, textWidth), {
      x: textX,
      y: LABEL_HEIGHT_PT - MARGIN - idSize - 14,
      size: 8,
      font: regular,
    });
    page.drawText(fitted(regular, label.name, 8, textWidth), {
      x: textX,
      y: LABEL_HEIGHT_PT - MARGIN - idSize - 25,
      size: 8,
      font: regular,
    });
    page.drawText(fitted(regular, label.url, 5, textWidth), { x: textX, y: MARGIN + 1, size: 5, font: regular });
  }
  return pdf.save();
}

/** The QR code alone as a PNG (qrcode's own PNG output), for printers and tools that take images. */
export async function labelPng(label: LabelContent): Promise<Buffer> {
  return QRCode.toBuffer(label.url, { type: 'png', errorCorrectionLevel: 'M', margin: QUIET_MODULES, scale: 8 });
}
