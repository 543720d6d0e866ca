#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""Compatibility wrapper: tools/export/densecl-export is the converter now (installed as
`densecl-export`); this name keeps old command lines and `import export_torchvision` working.

  export_torchvision.py --model densenet121 [--out FILE] [--dtype f32|f16|bf16]
                        [--weights PATH.pth | --random SEED] [--legacy-keys]  (and the rest of
                        densecl-export's options)
"""

import importlib.machinery
import importlib.util
import os
import sys

_PATH = os.path.join(os.path.dirname(os.path.abspath(__file__)), "densecl-export")
_LOADER = importlib.machinery.SourceFileLoader("densecl_export", _PATH)
_SPEC = importlib.util.spec_from_loader("densecl_export", _LOADER)
_MODULE = importlib.util.module_from_spec(_SPEC)
sys.modules["densecl_export"] = _MODULE
_LOADER.exec_module(_MODULE)
globals().update({k: v for k, v in vars(_MODULE).items() if not k.startswith("__")})

if __name__ == "__main__":
    sys.exit(_MODULE.main())
