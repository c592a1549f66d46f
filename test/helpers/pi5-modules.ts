// The Pi 5's SD and RP1 Ethernet chain as read from the 7.3.4 kernel's device tree and modules
// (2026-12-03), written out here rather than taken from src/boards/catalog.ts, so the tests that use
// it check the catalogue instead of repeating it. None is a modules.dep dependency of another.
export const PI5_SD_AND_ETHERNET_MODULES = [
  'sdhci_brcmstb',
  'pinctrl_brcmstb_bcm2712',
  'pinctrl_brcmstb',
  'gpio_brcmstb',
  'gpio_regulator',
  'irq_bcm2712_mip',
  'rp1_pci',
  'clk_rp1',
  'pinctrl_rp1',
  'macb',
] as const;
