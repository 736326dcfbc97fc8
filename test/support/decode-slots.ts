// Fill every image decode slot, as a flood of slow images would, until released.
import { imageDecodeSlots } from '../../src/media/image.js';

export interface HeldSlots {
  /** Free the slots and wait until they are back. */
  release(): Promise<void>;
}

export function holdDecodeSlots(): HeldSlots {
  let open!: () => void;
  const held = new Promise<void>((r) => (open = r));
  const holders = Array.from({ length: imageDecodeSlots.size }, () => imageDecodeSlots.run(() => held));
  return {
    release: async () => {
      open();
      await Promise.all(holders);
    },
  };
}
