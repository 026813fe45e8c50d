x=1
def main(): print('hi')
