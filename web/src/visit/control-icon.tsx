/** The control bar's icons (24×24, filled with the text colour, hidden from assistive technology). */

const PATHS = {
  fullscreen: 'M4 4h6v2H6v4H4V4Zm10 0h6v6h-2V6h-4V4ZM4 14h2v4h4v2H4v-6Zm14 0h2v6h-6v-2h4v-4Z',
  // A framed picture: a sun over hills, and a person in front.
  picture: 'M3 4h18v16H3V4Zm2 2v9l4-4 3 3 2-2 5 5V6H5Zm11 1a2 2 0 1 1 0 4 2 2 0 0 1 0-4Z',
  blur: 'M12 7a3 3 0 1 1 0 6 3 3 0 0 1 0-6Zm-6 12c0-3 2.7-5 6-5s6 2 6 5H6ZM3 4h2v2H3V4Zm0 4h2v2H3V8Zm0 4h2v2H3v-2Zm16-8h2v2h-2V4Zm0 4h2v2h-2V8Zm0 4h2v2h-2v-2Z',
  mic: 'M12 14a3 3 0 0 0 3-3V5a3 3 0 0 0-6 0v6a3 3 0 0 0 3 3Zm5-3a5 5 0 0 1-10 0H5a7 7 0 0 0 6 6.9V21h2v-3.1A7 7 0 0 0 19 11h-2Z',
  camera:
    'M15 8v8H5V8h10m1-2H4a1 1 0 0 0-1 1v10a1 1 0 0 0 1 1h12a1 1 0 0 0 1-1v-3.5l4 4v-11l-4 4V7a1 1 0 0 0-1-1Z',
  share:
    'M20 18a2 2 0 0 0 2-2V6a2 2 0 0 0-2-2H4a2 2 0 0 0-2 2v10a2 2 0 0 0 2 2H0v2h24v-2h-4ZM4 6h16v10H4V6Zm7 2-4 4h3v3h2v-3h3l-4-4Z',
  leave:
    'M12 9c-1.6 0-3.2.3-4.6.7v3.1c0 .4-.2.7-.6.9-1 .5-1.9 1.1-2.7 1.8-.2.2-.4.3-.7.3a1 1 0 0 1-.7-.3L.3 13.1a1 1 0 0 1 0-1.4C3.3 8.8 7.5 7 12 7s8.7 1.8 11.7 4.7a1 1 0 0 1 0 1.4l-2.4 2.4a1 1 0 0 1-.7.3c-.3 0-.5-.1-.7-.3-.8-.7-1.7-1.3-2.7-1.8a1 1 0 0 1-.6-.9V9.7C15.2 9.3 13.6 9 12 9Z',
  chat: 'M4 4h16a2 2 0 0 1 2 2v10a2 2 0 0 1-2 2H8l-4 4V6a2 2 0 0 1 2-2Zm0 2v11.2L7.2 14H20V6H4Z',
} as const;

/** The icon `name` of a control-bar button (the button carries the label). */
export function ControlIcon({ name }: { name: keyof typeof PATHS }) {
  return (
    <svg
      className="control-icon"
      viewBox="0 0 24 24"
      width="20"
      height="20"
      aria-hidden="true"
      focusable="false"
    >
      <path d={PATHS[name]} fill="currentColor" />
    </svg>
  );
}
