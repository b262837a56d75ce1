// Unit tests of the extension's DOM and data logic (no JupyterLab): jsdom, no network.
import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    environment: 'jsdom',
    include: ['src/__tests__/**/*.spec.ts'],
    globals: false,
    reporters: ['default']
  }
});
