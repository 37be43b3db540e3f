import { useVirtualizer, type Virtualizer } from "@tanstack/react-virtual";
import { useRef, type ReactNode, type RefObject } from "react";

export interface RowMeasure {
  ref: (node: Element | null) => void;
  "data-index": number;
  "aria-rowindex": number;
}

/**
 * A table that renders only the rows in view (plus a few around them): 10,000 rows cost the DOM of ~30.
 * Spacer rows above and below keep the scroll height and a real <table> (row and column semantics for
 * screen readers, with aria-rowcount / aria-rowindex telling the full size).
 */
export function VirtualTable<T>({
  rows,
  rowKey,
  header,
  renderRow,
  label,
  height = 480,
  rowHeight = 41,
  columns,
  virtualizerRef,
}: {
  rows: readonly T[];
  rowKey: (row: T) => string;
  header: ReactNode;
  /** Spread `measure` on the row's <tr>: rows taller than `rowHeight` (an error under a value) are measured. */
  renderRow: (row: T, index: number, measure: RowMeasure) => ReactNode;
  label: string;
  height?: number;
  rowHeight?: number;
  columns: number;
  virtualizerRef?: RefObject<Virtualizer<HTMLDivElement, Element> | null>;
}) {
  const scroller = useRef<HTMLDivElement>(null);
  const virtualizer = useVirtualizer({
    count: rows.length,
    getScrollElement: () => scroller.current,
    estimateSize: () => rowHeight,
    overscan: 12,
    getItemKey: (index) => rowKey(rows[index]!),
    // jsdom and the first paint have no layout: render the first screenful anyway.
    initialRect: { width: 1000, height },
  });
  if (virtualizerRef) (virtualizerRef as { current: unknown }).current = virtualizer;
  const items = virtualizer.getVirtualItems();
  const top = items[0]?.start ?? 0;
  const bottom = virtualizer.getTotalSize() - (items.at(-1)?.end ?? 0);
  return (
    <div className="virtual" ref={scroller} style={{ maxHeight: height }} tabIndex={-1}>
      <table aria-label={label} aria-rowcount={rows.length + 1}>
        <thead>{header}</thead>
        <tbody>
          {top > 0 ? (
            <tr aria-hidden="true" className="spacer">
              <td colSpan={columns} style={{ height: top }} />
            </tr>
          ) : null}
          {items.map((item) =>
            renderRow(rows[item.index]!, item.index, {
              ref: virtualizer.measureElement,
              "data-index": item.index,
              "aria-rowindex": item.index + 2,
            }),
          )}
          {bottom > 0 ? (
            <tr aria-hidden="true" className="spacer">
              <td colSpan={columns} style={{ height: bottom }} />
            </tr>
          ) : null}
        </tbody>
      </table>
    </div>
  );
}
