"""Names of places and bodies per sample district, as certificates and case numbers spell them."""

# GB/T 2260 district code -> (province abbreviation, city): 不动产权证书 and court case numbers start so.
ABBREVIATIONS = {
    "330106": ("浙", "杭州市"),
    "310104": ("沪", "上海市"),
    "440305": ("粤", "深圳市"),
    "110105": ("京", "北京市"),
    "510107": ("川", "成都市"),
}
