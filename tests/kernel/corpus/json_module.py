# The json module
import json
data = {"name": "sensor", "values": [1, 2.5, None, True], "nested": {"k": "v"}}
text = json.dumps(data)
back = json.loads(text)
print(back == data, sorted(back))
print(json.loads("[1, 2, 3]"), json.loads('"\\u00e9"'))
print(json.dumps("é"), json.dumps([1, "a"]))
