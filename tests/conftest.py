import os
import shutil

import pytest

# Tests run ngspice for real; without it they cannot say anything.
if shutil.which(os.environ.get("SPICEGRAD_NGSPICE", "ngspice")) is None:
    pytest.exit("ngspice is not installed: run `sudo apt-get install ngspice libngspice0`", returncode=2)
