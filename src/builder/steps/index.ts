import type { Step } from '../context.js';
import { inputsStep } from './inputs.js';
import { fetchStep } from './fetch.js';
import { kernelStep } from './kernel.js';
import { rootfsStep } from './rootfs.js';
import { nativeToolsStep } from './native-tools.js';
import { hostArchGuardStep } from './host-arch-guard.js';
import { upToDateStep } from './up-to-date.js';
import { imageToolsStep } from './image-tools.js';
import { workspaceStep } from './workspace.js';
import { treeStep } from './tree.js';
import { overlayStep } from './overlay.js';
import { bootStep } from './boot.js';
import { installerStep } from './installer.js';
import { rootFsStep } from './root-fs.js';
import { secretScanStep } from './secret-scan.js';
import { diskStep } from './disk.js';
import { manifestStep } from './manifest.js';
import { signStep } from './sign.js';
import { commitStep } from './commit.js';

/** The build, in order. Each step reads what earlier ones left in the context (see StepResults). */
export const BUILD_STEPS: readonly Step[] = [
  inputsStep,
  fetchStep,
  kernelStep,
  nativeToolsStep,
  rootfsStep,
  upToDateStep,
  imageToolsStep,
  workspaceStep,
  treeStep,
  overlayStep,
  bootStep,
  installerStep,
  rootFsStep,
  secretScanStep,
  hostArchGuardStep,
  diskStep,
  manifestStep,
  signStep,
  commitStep,
];
