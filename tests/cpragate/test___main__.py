import subprocess
import sys


def test_python_dash_m() -> None:
    out = subprocess.run([sys.executable, "-m", "cpragate", "version"], capture_output=True, text=True, check=True)
    assert out.stdout.startswith("cpragate ")
