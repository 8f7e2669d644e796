"""The seed's spelling: python generate_slurm_script.py --profile medium --script x.py --output submit.sh

Same as `phasic slurm generate ...`.
"""

import sys

from phasic.cluster._cli import legacy_main

if __name__ == "__main__":
    sys.exit(legacy_main())
