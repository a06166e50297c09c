import archiver


def test_package_imports():
    assert archiver.__version__.count(".") == 2
