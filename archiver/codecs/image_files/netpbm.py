def decompose(data):
    return None


def rebuild(planes, alpha, body):
    raise NotImplementedError
